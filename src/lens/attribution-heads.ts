/**
 * What each attention head writes into the residual stream (TransformerLens's hook_result):
 * result[pos, head] = z[pos, head] @ W_O[head], from a cached hook_z and the dequantized W_O, as
 * stack_head_results computes it with use_attn_result off. Summed over heads, plus b_O, it is
 * hook_attn_out.
 */
import { BadArgumentError, checkIndex, Tensor, type ActivationCache, type Model } from "../engine";
import { headName } from "../protocol";
import { checkPos } from "./attribution-input";

function cachedZ(cache: ActivationCache, layer: number): Tensor {
  const name = `blocks.${layer}.attn.hook_z`;
  if (!cache.has(name)) throw new BadArgumentError(`The cache has no ${name}: run model.runWithCache(tokens, { names: [${JSON.stringify(name)}, ...] }) with the hook_z of every layer you ask for.`);
  return cache.get(name);
}

function checkLayer(model: Model, layer: number, what = "layer"): void {
  const n = model.config.nLayers;
  checkIndex(what, layer, n, `the model has ${n} layers`);
}

/** out[i, head, :] += z[positions[i], head] @ W_O[head] (layout [pos, head, d_model]). */
function writeResults(z: Tensor, WO: Tensor, positions: number[], out: Float32Array): void {
  const [, H, Dh] = z.shape;
  const D = WO.shape[2];
  positions.forEach((p, i) => {
    for (let h = 0; h < H; h++) {
      const o = (i * H + h) * D;
      for (let j = 0; j < Dh; j++) {
        const zv = z.data[(p * H + h) * Dh + j];
        if (zv === 0) continue;
        const w = WO.data.subarray((h * Dh + j) * D, (h * Dh + j + 1) * D);
        for (let d = 0; d < D; d++) out[o + d] += zv * w[d];
      }
    }
  });
}

/**
 * Each head's output of one layer: [pos, head, d_model], or [head, d_model] at one position `pos`
 * (negative counts from the end). Needs blocks.{layer}.attn.hook_z in the cache.
 */
export function headResults(model: Model, cache: ActivationCache, layer: number, options: { pos?: number } = {}): Tensor {
  checkLayer(model, layer);
  const z = cachedZ(cache, layer);
  const WO = model.weight(`blocks.${layer}.attn.W_O`);
  const [P, H] = z.shape;
  const D = model.config.dModel;
  const positions = options.pos === undefined ? Array.from({ length: P }, (_, p) => p) : [checkPos(options.pos, P)];
  const out = new Float32Array(positions.length * H * D);
  writeResults(z, WO, positions, out);
  return options.pos === undefined ? new Tensor([P, H, D], out, ["pos", "head", "d_model"]) : new Tensor([H, D], out, ["head", "d_model"]);
}

export interface StackedHeadResults {
  /** "a{L}.h{H}", in the order of the first dimension of `results` */
  labels: string[];
  /** [component, pos, d_model], or [component, d_model] at one position */
  results: Tensor;
}

/**
 * Every head's output of the layers before `layer` (default: all layers), stacked as TransformerLens's
 * cache.stack_head_results: one component per head, layer-major. Needs each of those layers' hook_z.
 */
export function stackHeadResults(model: Model, cache: ActivationCache, options: { layer?: number; pos?: number } = {}): StackedHeadResults {
  const { nLayers, nHeads: H, dModel: D } = model.config;
  const upTo = options.layer ?? nLayers;
  if (!Number.isInteger(upTo) || upTo < 0 || upTo > nLayers) throw new BadArgumentError(`layer ${upTo} is out of range: heads of the layers before it are stacked, so use 0..${nLayers} (default ${nLayers}, all).`);
  const labels: string[] = [];
  const parts: Tensor[] = [];
  for (let l = 0; l < upTo; l++) {
    parts.push(headResults(model, cache, l, options.pos === undefined ? {} : { pos: options.pos }));
    for (let h = 0; h < H; h++) labels.push(headName(l, h));
  }
  const P = options.pos === undefined ? (parts[0]?.shape[0] ?? 0) : 1;
  const out = new Float32Array(labels.length * P * D);
  // [pos, head, d_model] per layer -> [component, pos, d_model]
  parts.forEach((t, l) => {
    for (let p = 0; p < P; p++)
      for (let h = 0; h < H; h++) out.set(t.data.subarray((p * H + h) * D, (p * H + h + 1) * D), ((l * H + h) * P + p) * D);
  });
  const results = options.pos === undefined ? new Tensor([labels.length, P, D], out, ["component", "pos", "d_model"]) : new Tensor([labels.length, D], out, ["component", "d_model"]);
  return { labels, results };
}
