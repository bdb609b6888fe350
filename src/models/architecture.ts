// What llama.cpp's loader requires per architecture: metadata keys and tensor names/shapes
// (src/models/{llama,qwen2,gpt2}.cpp, gguf-py/gguf/constants.py). Shapes are GGUF dims, ne0 first.
import { GGMLType, gguf, type GGUFSpec, type GGUFTensorSpec, type GGUFValue } from "../gguf/index";
import { tokenizerMetadata, type Vocab } from "./vocab";

export type Arch = "llama" | "qwen2" | "gpt2";
export const ARCHS: readonly Arch[] = ["llama", "qwen2", "gpt2"];

export interface ModelShape {
  arch: Arch;
  layers: number;
  heads: number;
  kvHeads: number;
  dModel: number;
  dMlp: number;
  vocab: number;
  ctx: number;
}

/** Every tensor of a model of this shape: name and dims, in the order they are written. */
export function tensorShapes(s: ModelShape): { name: string; dims: number[] }[] {
  const dHead = s.dModel / s.heads;
  const q = s.heads * dHead;
  const kv = s.kvHeads * dHead;
  const D = s.dModel, F = s.dMlp;
  const out: { name: string; dims: number[] }[] = [{ name: "token_embd.weight", dims: [D, s.vocab] }];
  if (s.arch === "gpt2") out.push({ name: "position_embd.weight", dims: [D, s.ctx] });
  out.push({ name: "output_norm.weight", dims: [D] });
  if (s.arch === "gpt2") out.push({ name: "output_norm.bias", dims: [D] });
  out.push({ name: "output.weight", dims: [D, s.vocab] });
  for (let l = 0; l < s.layers; l++) {
    const p = `blk.${l}.`;
    const t = (name: string, ...dims: number[]) => out.push({ name: p + name, dims });
    t("attn_norm.weight", D);
    if (s.arch === "gpt2") {
      t("attn_norm.bias", D);
      t("attn_qkv.weight", D, q + 2 * kv);
      t("attn_qkv.bias", q + 2 * kv);
      t("attn_output.weight", q, D);
      t("attn_output.bias", D);
      t("ffn_norm.weight", D);
      t("ffn_norm.bias", D);
      t("ffn_up.weight", D, F);
      t("ffn_up.bias", F);
      t("ffn_down.weight", F, D);
      t("ffn_down.bias", D);
    } else {
      t("attn_q.weight", D, q);
      t("attn_k.weight", D, kv);
      t("attn_v.weight", D, kv);
      if (s.arch === "qwen2") {
        t("attn_q.bias", q);
        t("attn_k.bias", kv);
        t("attn_v.bias", kv);
      }
      t("attn_output.weight", q, D);
      t("ffn_norm.weight", D);
      t("ffn_gate.weight", D, F);
      t("ffn_up.weight", D, F);
      t("ffn_down.weight", F, D);
    }
  }
  return out;
}

export function checkShape(s: ModelShape): void {
  const bad = (m: string) => { throw new Error(`invalid model shape: ${m}`); };
  if (!ARCHS.includes(s.arch)) bad(`unknown architecture "${s.arch}"; use one of ${ARCHS.join(", ")}`);
  for (const k of ["layers", "heads", "kvHeads", "dModel", "dMlp", "vocab", "ctx"] as const) {
    if (!Number.isInteger(s[k]) || s[k] <= 0) bad(`${k} must be a positive integer, got ${s[k]}`);
  }
  if (s.dModel % s.heads !== 0) bad(`d_model ${s.dModel} is not a multiple of heads ${s.heads}`);
  if (s.heads % s.kvHeads !== 0) bad(`heads ${s.heads} is not a multiple of kv-heads ${s.kvHeads}`);
  if (s.arch !== "gpt2" && (s.dModel / s.heads) % 2 !== 0) bad(`head dimension ${s.dModel / s.heads} must be even for RoPE`);
}

export interface ModelSpecInput {
  shape: ModelShape;
  name: string;
  vocab: Vocab;
  /** Values per tensor name (ggml order); 2-D tensors are written as `matrixType`, 1-D always F32. */
  tensors: Record<string, Float32Array | (() => Float32Array)>;
  matrixType: GGMLType.F32 | GGMLType.F16;
  eps: number;
  ropeBase?: number;
  extra?: [string, GGUFValue][];
}

export function modelSpec(input: ModelSpecInput): GGUFSpec {
  const { shape: s } = input;
  checkShape(s);
  const a = s.arch;
  const meta: [string, GGUFValue][] = [
    ["general.architecture", gguf.str(a)],
    ["general.name", gguf.str(input.name)],
    ["general.file_type", gguf.u32(input.matrixType === GGMLType.F16 ? 1 : 0)],
    [`${a}.context_length`, gguf.u32(s.ctx)],
    [`${a}.embedding_length`, gguf.u32(s.dModel)],
    [`${a}.block_count`, gguf.u32(s.layers)],
    [`${a}.feed_forward_length`, gguf.u32(s.dMlp)],
    [`${a}.attention.head_count`, gguf.u32(s.heads)],
    [`${a}.attention.head_count_kv`, gguf.u32(s.kvHeads)],
  ];
  if (a === "gpt2") meta.push([`${a}.attention.layer_norm_epsilon`, gguf.f32(input.eps)]);
  else {
    meta.push([`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(input.eps)]);
    meta.push([`${a}.rope.dimension_count`, gguf.u32(s.dModel / s.heads)]);
    meta.push([`${a}.rope.freq_base`, gguf.f32(input.ropeBase ?? 10000)]);
  }
  meta.push(...(input.extra ?? []), ...tokenizerMetadata(input.vocab));
  const tensors: GGUFTensorSpec[] = tensorShapes(s).map(({ name, dims }) => {
    const data = input.tensors[name];
    if (!data) throw new Error(`model ${input.name} lacks tensor ${name}`);
    return { name, dims, type: dims.length > 1 ? input.matrixType : GGMLType.F32, data };
  });
  const extraNames = Object.keys(input.tensors).filter((n) => !tensors.some((t) => t.name === n));
  if (extraNames.length) throw new Error(`model ${input.name} has tensors llama.cpp would not load: ${extraNames.join(", ")}`);
  return { metadata: meta, tensors };
}
