/**
 * Ready-made hooks. Each returns a HookFn for model.runWithHooks / runBatch / generate.
 * `positions` are absolute token positions (query positions for attention patterns), `heads`
 * query-head indices (KV-head indices on hook_k / hook_v with grouped-query attention).
 */
import { BadArgumentError, HookShapeError, checkIndex } from "./errors";
import type { HookContext, HookFn } from "./forward";
import { Tensor } from "./tensor";

export interface Selection {
  heads?: readonly number[];
  positions?: readonly number[];
}

const POS_DIMS = ["pos", "query_pos"];
const HEAD_DIMS = ["head", "kv_head"];

/** Calls fn(offset, length, row, head) for every selected contiguous run of values. */
function forSelected(t: Tensor, ctx: HookContext, sel: Selection, fn: (offset: number, length: number, row: number) => void) {
  const pd = t.dims.findIndex((d) => POS_DIMS.includes(d));
  const hd = t.dims.findIndex((d) => HEAD_DIMS.includes(d));
  if (sel.heads && hd < 0) throw new BadArgumentError(`${ctx.name} has no head dimension (dims [${t.dims.join(", ")}]); drop the heads option.`);
  if (pd < 0) throw new BadArgumentError(`${ctx.name} has no position dimension (dims [${t.dims.join(", ")}]).`);
  for (const h of sel.heads ?? []) checkIndex("Head", h, t.shape[hd], `this model has ${t.shape[hd]} heads`);
  const heads = sel.heads ? new Set(sel.heads) : null;
  const positions = sel.positions ? new Set(sel.positions) : null;
  const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  // Walk every index of the dims up to and including the last of (pos, head); the rest is one run.
  const last = Math.max(pd, hd);
  const idx = new Array<number>(last + 1).fill(0);
  const total = t.shape.slice(0, last + 1).reduce((a, b) => a * b, 1);
  for (let k = 0; k < total; k++) {
    let r = k;
    for (let d = last; d >= 0; d--) {
      idx[d] = r % t.shape[d];
      r = Math.floor(r / t.shape[d]);
    }
    if (positions && !positions.has(ctx.positions[idx[pd]])) continue;
    if (heads && !heads.has(idx[hd])) continue;
    let off = 0;
    for (let d = 0; d <= last; d++) off += idx[d] * strides[d];
    fn(off, strides[last], idx[pd]);
  }
}

/** Zero-ablation of the whole activation, or of chosen heads / positions. */
export function zero(sel: Selection = {}): HookFn {
  return (t, ctx) => forSelected(t, ctx, sel, (o, n) => t.data.fill(0, o, o + n));
}

/**
 * Mean-ablation: replaces the selection with its mean over positions, taken from `reference`
 * (e.g. a cached activation of a baseline run, same dims) or from the tensor itself.
 */
export function mean(sel: Selection & { reference?: Tensor } = {}): HookFn {
  return (t, ctx) => {
    const src = sel.reference ?? t;
    const pd = src.dims.findIndex((d) => POS_DIMS.includes(d));
    if (pd !== 0) throw new BadArgumentError(`mean() needs a [pos, ...] activation; ${ctx.name} has dims [${src.dims.join(", ")}].`);
    if (src.shape.slice(1).join() !== t.shape.slice(1).join()) throw new HookShapeError(ctx.name, t.shape, src.shape);
    const w = src.size / src.shape[0];
    const avg = new Float32Array(w);
    for (let p = 0; p < src.shape[0]; p++) for (let j = 0; j < w; j++) avg[j] += src.data[p * w + j] / src.shape[0];
    forSelected(t, ctx, sel, (o, n) => t.data.set(avg.subarray(o % w, (o % w) + n), o));
  };
}

/**
 * Activation patching: copies the selection from `source` (the same hook's tensor from another run,
 * e.g. cache.get(name) of a corrupted prompt), position by position.
 */
export function patch(source: Tensor, sel: Selection = {}): HookFn {
  return (t, ctx) => {
    const pd = t.dims.findIndex((d) => POS_DIMS.includes(d));
    if (pd !== 0) {
      // attention patterns [head, query_pos, key_pos]: source rows are absolute query positions
      if (source.shape.length !== 3 || source.shape[0] !== t.shape[0]) throw new HookShapeError(ctx.name, t.shape, source.shape);
      const [, q, K] = t.shape;
      const n = source.shape[2];
      forSelected(t, ctx, sel, (o, len, row) => {
        const h = Math.floor(o / (q * K));
        const p = ctx.positions[row];
        if (p >= source.shape[1]) throw new BadArgumentError(`patch source for ${ctx.name} has ${source.shape[1]} positions, needs position ${p}.`);
        t.data.set(source.data.subarray((h * n + p) * n, (h * n + p) * n + Math.min(len, n)), o);
      });
      return;
    }
    if (source.shape.slice(1).join() !== t.shape.slice(1).join()) throw new HookShapeError(ctx.name, [source.shape[0], ...t.shape.slice(1)], source.shape);
    const w = t.size / t.shape[0];
    forSelected(t, ctx, sel, (o, n, row) => {
      const p = ctx.positions[row];
      if (p >= source.shape[0]) throw new BadArgumentError(`patch source for ${ctx.name} has ${source.shape[0]} positions, needs position ${p}.`);
      t.data.set(source.data.subarray(p * w + (o % w), p * w + (o % w) + n), o);
    });
  };
}

/** Steering: adds scale * vector to every selected row of a [pos, d] activation. */
export function addVector(vector: Tensor | Float32Array | readonly number[], options: { scale?: number; positions?: readonly number[] } = {}): HookFn {
  const v = vector instanceof Tensor ? vector.data : Float32Array.from(vector);
  const scale = options.scale ?? 1;
  return (t, ctx) => {
    const w = t.size / t.shape[0];
    if (t.dims[0] !== "pos" || v.length !== w) throw new HookShapeError(ctx.name, [w], [v.length]);
    for (let i = 0; i < t.shape[0]; i++) {
      if (options.positions && !options.positions.includes(ctx.positions[i])) continue;
      for (let j = 0; j < w; j++) t.data[i * w + j] += scale * v[j];
    }
  };
}
