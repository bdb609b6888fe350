/**
 * The one table from TransformerLens hook names to llama.cpp graph tensors, per architecture.
 * Tensor names come from llama.cpp's graph builders (src/models/<arch>.cpp, src/llama-graph.cpp in
 * the vendored source); where one name is used for several tensors in a layer the op picks one
 * (e.g. Qcur-L is MUL_MAT, then RESHAPE = pre-rotary, then ROPE = post-rotary).
 */
import { UnsupportedArchitectureError } from "./errors";
import type { Layout } from "./layouts";

export type { Layout } from "./layouts";

export interface TensorRef {
  /** graph name, e.g. "l_out-3" */
  name: string;
  /** ggml_op_desc of the tensor when the name alone is ambiguous */
  op?: string;
}

export interface HookEntry {
  name: string;
  /** block index, or null for hooks outside the blocks */
  layer: number | null;
  /** dimension names in TransformerLens order; "pos" / "query_pos" is the token dimension */
  dims: string[];
  /** sizes of the non-token dims (for attention: [head], the query and key sizes vary) */
  inner: number[];
  /** null for "logits", which comes from llama_get_logits */
  tensor: TensorRef | null;
  /** how the activation sits in `tensor` (see layouts.ts) */
  layout: Layout;
}

export interface HookDims {
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  dModel: number;
  dHead: number;
  dMlp: number;
  nVocab: number;
}

export const SUPPORTED_ARCHITECTURES = ["llama", "qwen2", "gpt2"] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export function isSupportedArchitecture(arch: string): arch is Architecture {
  return (SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch);
}

const t = (name: string, op?: string): TensorRef => (op ? { name, op } : { name });
const rows: Layout = { kind: "rows" };

/** Every hook of a model, in the order a forward pass reaches them. */
export function hookTable(arch: string, d: HookDims): HookEntry[] {
  if (!isSupportedArchitecture(arch)) throw new UnsupportedArchitectureError(arch, SUPPORTED_ARCHITECTURES);
  const { nLayers, nHeads: H, nKvHeads: HK, dModel: D, dHead: Dh, dMlp: F } = d;
  const out: HookEntry[] = [];
  const add = (name: string, layer: number | null, dims: string[], inner: number[], tensor: TensorRef | null, layout: Layout = rows) =>
    out.push({ name, layer, dims, inner, tensor, layout });
  const resid = ["pos", "d_model"];
  const gpt2 = arch === "gpt2";
  // llama.cpp normalizes then multiplies by the weight (MUL), gpt2 adds the bias after (ADD).
  const normOp = gpt2 ? "ADD" : "MUL";

  add("hook_embed", null, resid, [D], t("embd", "GET_ROWS"));
  if (gpt2) add("hook_pos_embed", null, resid, [D], t("pos_embd", "GET_ROWS"));
  const residPre = (l: number) => (l === 0 ? (gpt2 ? t("inpL", "ADD") : t("embd", "GET_ROWS")) : t(`l_out-${l - 1}`, "ADD"));

  for (let l = 0; l < nLayers; l++) {
    const p = `blocks.${l}.`;
    add(p + "hook_resid_pre", l, resid, [D], residPre(l));
    add(p + "ln1.hook_normalized", l, resid, [D], t(`attn_norm-${l}`, normOp));
    if (gpt2) {
      // Q, K, V are views into the fused projection (with bias): slice its columns.
      const qkv = t(`wqkv_b-${l}`, "ADD");
      const rowWidth = (H + 2 * HK) * Dh;
      add(p + "attn.hook_q", l, ["pos", "head", "d_head"], [H, Dh], qkv, { kind: "columns", offset: 0, width: H * Dh, rowWidth });
      add(p + "attn.hook_k", l, ["pos", "head", "d_head"], [HK, Dh], qkv, { kind: "columns", offset: H * Dh, width: HK * Dh, rowWidth });
      add(p + "attn.hook_v", l, ["pos", "head", "d_head"], [HK, Dh], qkv, { kind: "columns", offset: (H + HK) * Dh, width: HK * Dh, rowWidth });
    } else {
      add(p + "attn.hook_q", l, ["pos", "head", "d_head"], [H, Dh], t(`Qcur-${l}`, "RESHAPE"));
      add(p + "attn.hook_k", l, ["pos", "head", "d_head"], [HK, Dh], t(`Kcur-${l}`, "RESHAPE"));
      add(p + "attn.hook_v", l, ["pos", "head", "d_head"], [HK, Dh], t(`Vcur-${l}`, "RESHAPE"));
      add(p + "attn.hook_rot_q", l, ["pos", "head", "d_head"], [H, Dh], t(`Qcur-${l}`, "ROPE"));
      add(p + "attn.hook_rot_k", l, ["pos", "head", "d_head"], [HK, Dh], t(`Kcur-${l}`, "ROPE"));
    }
    add(p + "attn.hook_attn_scores", l, ["head", "query_pos", "key_pos"], [H], t(`kq-${l}`, "MUL_MAT"), { kind: "attention", scale: 1 / Math.sqrt(Dh) });
    add(p + "attn.hook_pattern", l, ["head", "query_pos", "key_pos"], [H], t(`kq_soft_max-${l}`, "SOFT_MAX"), { kind: "attention" });
    // kqv_out is laid out by query head, also with grouped-query attention.
    add(p + "attn.hook_z", l, ["pos", "head", "d_head"], [H, Dh], t(`kqv_out-${l}`, "CONT"));
    if (arch === "llama") add(p + "hook_attn_out", l, resid, [D], t(`attn_out-${l}`));
    else add(p + "hook_attn_out", l, resid, [D], t(`ffn_inp-${l}`, "ADD"), { kind: "difference", base: residPre(l) });
    add(p + "hook_resid_mid", l, resid, [D], t(`ffn_inp-${l}`, "ADD"));
    add(p + "ln2.hook_normalized", l, resid, [D], t(`ffn_norm-${l}`, normOp));
    if (gpt2) {
      add(p + "mlp.hook_pre", l, ["pos", "d_mlp"], [F], t(`ffn_up_b-${l}`, "ADD"));
      add(p + "mlp.hook_post", l, ["pos", "d_mlp"], [F], t(`ffn_gelu-${l}`));
      add(p + "hook_mlp_out", l, resid, [D], t(`ffn_out-${l}`, "ADD"));
    } else {
      add(p + "mlp.hook_pre", l, ["pos", "d_mlp"], [F], t(`ffn_gate-${l}`, "MUL_MAT"));
      add(p + "mlp.hook_pre_linear", l, ["pos", "d_mlp"], [F], t(`ffn_up-${l}`, "MUL_MAT"));
      add(p + "mlp.hook_post", l, ["pos", "d_mlp"], [F], t(`ffn_swiglu-${l}`));
      add(p + "hook_mlp_out", l, resid, [D], t(`ffn_out-${l}`));
    }
    add(p + "hook_resid_post", l, resid, [D], t(`l_out-${l}`, "ADD"));
  }
  add("ln_final.hook_normalized", null, resid, [D], t("result_norm", normOp));
  add("logits", null, ["pos", "vocab"], [d.nVocab], null);
  return out;
}

/** The graph key the native side matches: "name" or "name@OP". */
export function tensorKey(ref: TensorRef): string {
  return ref.op ? `${ref.name}@${ref.op}` : ref.name;
}

/**
 * Whether observing this hook needs every position's output: in the last block llama.cpp keeps only
 * the output rows from the residual add after attention on (ffn_inp-L, the MLP, l_out-L), and in
 * the final norm. Attention itself (q, k, v, pattern, z, llama's attn_out) still sees every row.
 */
export function needsAllOutputs(e: HookEntry, nLayers: number): boolean {
  if (e.name === "ln_final.hook_normalized") return true;
  return e.layer === nLayers - 1 && e.tensor !== null && /^(ffn_|l_out-)/.test(e.tensor.name);
}
