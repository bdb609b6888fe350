/**
 * Model weights under TransformerLens names and shapes, dequantized from the GGUF file with ggml's
 * own to_float (so every quantization type llama.cpp reads is covered). GGUF stores a matrix with
 * dims [in, out] as `out` rows of `in` values; TransformerLens multiplies x @ W, so most matrices
 * are transposed here. W_Q/W_K keep llama.cpp's rotary layout (the one its RoPE expects).
 */
import type { HookDims } from "./hook-table";
import { nativeAddon, type GgufInspection } from "./native";
import { Tensor } from "./tensor";

interface WeightSpec {
  dims: string[];
  read: () => Tensor;
}

/** [rows][cols] -> [cols][rows] */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

/** Projection rows [heads*dHead][dModel] -> [head, d_model, d_head] */
function toHeads(m: Float32Array, heads: number, dModel: number, dHead: number): Float32Array {
  const out = new Float32Array(heads * dModel * dHead);
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < dHead; j++)
      for (let i = 0; i < dModel; i++) out[(h * dModel + i) * dHead + j] = m[(h * dHead + j) * dModel + i];
  return out;
}

/** `gguf`: the file's header as read at load (where each tensor's data lies), so reads do not parse it again. */
export function weightTable(path: string, d: HookDims, gguf: GgufInspection): Map<string, WeightSpec> {
  const { nLayers, nHeads: H, nKvHeads: HK, dModel: D, dHead: Dh, dMlp: F, nVocab: V } = d;
  const entries = new Map(gguf.tensors.map((t) => [t.name, t]));
  const tensors = new Map(gguf.tensors.map((t) => [t.name, t.ne]));
  const read = (name: string) => {
    const t = entries.get(name);
    if (!t) throw new Error(`${path} has no tensor ${name}.`);
    return nativeAddon().ggufTensorF32(path, t.type, gguf.dataOffset + t.offset, t.size, t.ne.reduce((a, b) => a * b, 1));
  };
  const table = new Map<string, WeightSpec>();
  const put = (name: string, dims: string[], shape: number[], fn: () => Float32Array) =>
    table.set(name, { dims, read: () => new Tensor(shape, fn(), dims) });
  const has = (n: string) => tensors.has(n);

  put("W_E", ["d_vocab", "d_model"], [V, D], () => read("token_embd.weight"));
  const pos = tensors.get("position_embd.weight");
  if (pos) put("W_pos", ["n_ctx", "d_model"], [pos[1], D], () => read("position_embd.weight"));
  const unembed = has("output.weight") ? "output.weight" : "token_embd.weight";
  put("W_U", ["d_model", "d_vocab"], [D, V], () => transpose(read(unembed), V, D));
  if (has("output.bias")) put("b_U", ["d_vocab"], [V], () => read("output.bias"));
  put("ln_final.w", ["d_model"], [D], () => read("output_norm.weight"));
  if (has("output_norm.bias")) put("ln_final.b", ["d_model"], [D], () => read("output_norm.bias"));

  for (let l = 0; l < nLayers; l++) {
    const g = `blk.${l}.`;
    const p = `blocks.${l}.`;
    put(p + "ln1.w", ["d_model"], [D], () => read(g + "attn_norm.weight"));
    if (has(g + "attn_norm.bias")) put(p + "ln1.b", ["d_model"], [D], () => read(g + "attn_norm.bias"));
    put(p + "ln2.w", ["d_model"], [D], () => read(g + "ffn_norm.weight"));
    if (has(g + "ffn_norm.bias")) put(p + "ln2.b", ["d_model"], [D], () => read(g + "ffn_norm.bias"));

    // Fused QKV (gpt2): rows are [q (H*Dh), k (HK*Dh), v (HK*Dh)].
    const fused = has(g + "attn_qkv.weight");
    const parts = { Q: [0, H], K: [H * Dh, HK], V: [(H + HK) * Dh, HK] } as const;
    for (const [k, [offset, heads]] of Object.entries(parts)) {
      const own = `${g}attn_${k.toLowerCase()}`;
      const w = fused ? () => read(g + "attn_qkv.weight").slice(offset * D, (offset + heads * Dh) * D) : () => read(own + ".weight");
      put(`${p}attn.W_${k}`, ["head", "d_model", "d_head"], [heads, D, Dh], () => toHeads(w(), heads, D, Dh));
      const bias = fused ? (has(g + "attn_qkv.bias") ? g + "attn_qkv.bias" : null) : has(own + ".bias") ? own + ".bias" : null;
      if (bias) {
        const b = () => (fused ? read(bias).slice(offset, offset + heads * Dh) : read(bias));
        put(`${p}attn.b_${k}`, ["head", "d_head"], [heads, Dh], b);
      }
    }
    put(p + "attn.W_O", ["head", "d_head", "d_model"], [H, Dh, D], () => transpose(read(g + "attn_output.weight"), D, H * Dh));
    if (has(g + "attn_output.bias")) put(p + "attn.b_O", ["d_model"], [D], () => read(g + "attn_output.bias"));

    put(p + "mlp.W_in", ["d_model", "d_mlp"], [D, F], () => transpose(read(g + "ffn_up.weight"), F, D));
    if (has(g + "ffn_up.bias")) put(p + "mlp.b_in", ["d_mlp"], [F], () => read(g + "ffn_up.bias"));
    if (has(g + "ffn_gate.weight")) put(p + "mlp.W_gate", ["d_model", "d_mlp"], [D, F], () => transpose(read(g + "ffn_gate.weight"), F, D));
    if (has(g + "ffn_gate.bias")) put(p + "mlp.b_gate", ["d_mlp"], [F], () => read(g + "ffn_gate.bias"));
    put(p + "mlp.W_out", ["d_mlp", "d_model"], [F, D], () => transpose(read(g + "ffn_down.weight"), D, F));
    if (has(g + "ffn_down.bias")) put(p + "mlp.b_out", ["d_model"], [D], () => read(g + "ffn_down.bias"));
  }
  return table;
}
