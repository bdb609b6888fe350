// Loads a GGUF (llama, qwen2, gpt2) into plain Float32Arrays for the reference forward pass.
// Independent of src/engine and llama.cpp on purpose: it is what their outputs are checked against.
import { readFileSync } from "node:fs";
import { metaNumber, metaString, readGGUF, tensorFloats, type GGUFFile } from "../../src/gguf/index";

export type RefArch = "llama" | "qwen2" | "gpt2";

export interface RefConfig {
  arch: RefArch;
  nLayer: number;
  dModel: number;
  nHead: number;
  nHeadKv: number;
  dHead: number;
  dMlp: number;
  vocab: number;
  ctx: number;
  eps: number;
  ropeBase: number;
  nRot: number;
  /** "norm": rotate adjacent pairs (llama); "neox": rotate halves (qwen2); "none": learned positions (gpt2). */
  rope: "norm" | "neox" | "none";
}

/** Weights in GGUF layout: a matrix with dims [in, out] is out rows of in values. */
export interface RefLayer {
  lnW: Float32Array; lnB?: Float32Array;
  wq: Float32Array; bq?: Float32Array;
  wk: Float32Array; bk?: Float32Array;
  wv: Float32Array; bv?: Float32Array;
  wo: Float32Array; bo?: Float32Array;
  ln2W: Float32Array; ln2B?: Float32Array;
  wUp: Float32Array; bUp?: Float32Array;
  wGate?: Float32Array; bGate?: Float32Array;
  wDown: Float32Array; bDown?: Float32Array;
}

export interface RefModel {
  config: RefConfig;
  gguf: GGUFFile;
  tokEmbd: Float32Array;
  posEmbd?: Float32Array;
  layers: RefLayer[];
  lnFW: Float32Array; lnFB?: Float32Array;
  out: Float32Array; outB?: Float32Array;
}

export function loadReferenceModel(source: string | Uint8Array): RefModel {
  const bytes = typeof source === "string" ? readFileSync(source) : source;
  const g = readGGUF(bytes, typeof source === "string" ? source : "model bytes");
  const arch = metaString(g, "general.architecture");
  if (arch !== "llama" && arch !== "qwen2" && arch !== "gpt2") throw new Error(`reference forward pass supports llama, qwen2 and gpt2, not ${arch}`);
  const has = (name: string) => g.tensors.some((t) => t.name === name);
  const t = (name: string) => tensorFloats(g, bytes, name);
  const opt = (name: string) => (has(name) ? t(name) : undefined);
  const k = (key: string, fallback?: number) => metaNumber(g, `${arch}.${key}`, fallback);
  const dModel = k("embedding_length");
  const nHead = k("attention.head_count");
  const dHead = k("attention.key_length", dModel / nHead);
  const tokEmbd = t("token_embd.weight");
  const config: RefConfig = {
    arch,
    nLayer: k("block_count"),
    dModel,
    nHead,
    nHeadKv: k("attention.head_count_kv", nHead),
    dHead,
    dMlp: k("feed_forward_length"),
    vocab: tokEmbd.length / dModel,
    ctx: k("context_length"),
    eps: arch === "gpt2" ? k("attention.layer_norm_epsilon") : k("attention.layer_norm_rms_epsilon"),
    ropeBase: k("rope.freq_base", 10000),
    nRot: k("rope.dimension_count", dHead),
    rope: arch === "llama" ? "norm" : arch === "qwen2" ? "neox" : "none",
  };
  const layers: RefLayer[] = [];
  const qSize = nHead * dHead;
  const kvSize = config.nHeadKv * dHead;
  for (let l = 0; l < config.nLayer; l++) {
    const p = `blk.${l}.`;
    let wq: Float32Array, wk: Float32Array, wv: Float32Array;
    let bq: Float32Array | undefined, bk: Float32Array | undefined, bv: Float32Array | undefined;
    if (has(p + "attn_qkv.weight")) {
      // fused: output rows are [q (qSize), k (kvSize), v (kvSize)]
      const w = t(p + "attn_qkv.weight");
      wq = w.subarray(0, qSize * dModel);
      wk = w.subarray(qSize * dModel, (qSize + kvSize) * dModel);
      wv = w.subarray((qSize + kvSize) * dModel);
      const b = opt(p + "attn_qkv.bias");
      if (b) [bq, bk, bv] = [b.subarray(0, qSize), b.subarray(qSize, qSize + kvSize), b.subarray(qSize + kvSize)];
    } else {
      [wq, wk, wv] = [t(p + "attn_q.weight"), t(p + "attn_k.weight"), t(p + "attn_v.weight")];
      [bq, bk, bv] = [opt(p + "attn_q.bias"), opt(p + "attn_k.bias"), opt(p + "attn_v.bias")];
    }
    layers.push({
      lnW: t(p + "attn_norm.weight"), lnB: opt(p + "attn_norm.bias"),
      wq, bq, wk, bk, wv, bv,
      wo: t(p + "attn_output.weight"), bo: opt(p + "attn_output.bias"),
      ln2W: t(p + "ffn_norm.weight"), ln2B: opt(p + "ffn_norm.bias"),
      wUp: t(p + "ffn_up.weight"), bUp: opt(p + "ffn_up.bias"),
      wGate: opt(p + "ffn_gate.weight"), bGate: opt(p + "ffn_gate.bias"),
      wDown: t(p + "ffn_down.weight"), bDown: opt(p + "ffn_down.bias"),
    });
  }
  return {
    config,
    gguf: g,
    tokEmbd,
    posEmbd: opt("position_embd.weight"),
    layers,
    lnFW: t("output_norm.weight"),
    lnFB: opt("output_norm.bias"),
    out: opt("output.weight") ?? tokEmbd,
    outB: opt("output.bias"),
  };
}
