/**
 * How an activation sits in its graph tensor, and one read/write codec per layout: how one
 * sequence's rows of an observed tensor become the hook's Tensor, how an edited Tensor goes back
 * into the graph data, and how the rows are kept in the cache. Adding a layout touches only this file.
 */
import type { HookEntry, TensorRef } from "./hook-table";
import { Tensor } from "./tensor";

/**
 * How an activation sits in the graph tensor (ggml order, ne[0] fastest):
 * - rows: [tokens, ...inner] exactly the hook's shape, one row per batch token.
 * - columns: a [tokens, width] slice at `offset` of each row of a wider tensor (fused QKV).
 * - attention: [head, tokens, n_kv] over KV-cache cells (padded); cropped to the sequence's keys.
 *   `scale` (scores only) is applied on read and removed on write; masked keys read as -Infinity.
 * - difference: this tensor minus `base` (same rows). Used where the graph has no tensor of its own
 *   (attn_out in gpt2/qwen2 = resid_mid - resid_pre); edits are written back as base + edited.
 */
export type Layout =
  | { kind: "rows" }
  | { kind: "columns"; offset: number; width: number; rowWidth: number }
  | { kind: "attention"; scale?: number }
  | { kind: "difference"; base: TensorRef };

/** One sequence's rows of one observed graph tensor in one decode. */
export interface SeqRows {
  /** the graph tensor's values (every row of the batch), edited in place by write */
  data: Float32Array;
  /** its ggml dims */
  ne: number[];
  /** rows (tokens) in the whole batch */
  nRows: number;
  /** first batch row of this sequence */
  start: number;
  /** this sequence's rows in the batch */
  count: number;
  /** absolute position of each of the sequence's rows */
  positions: Int32Array;
  /** KV cells of the sequence's tokens so far, in position order (the keys attention sees) */
  cells: readonly number[];
  /** values of the layout's base tensor (difference only) */
  base?: Float32Array;
}

export interface LayoutCodec<L extends Layout = Layout> {
  /** The expected shape, in words, when the graph tensor does not fit; undefined when it does. */
  mismatch(e: HookEntry, layout: L, g: SeqRows): string | undefined;
  /** The sequence's rows as the hook's Tensor. */
  read(e: HookEntry, layout: L, g: SeqRows): Tensor;
  /** Writes an edited Tensor (shaped as read returned it) back into g.data. */
  write(e: HookEntry, layout: L, g: SeqRows, t: Tensor): void;
  /** Copies the rows of `t` at `positions` into the sequence's cache tensor of `n` positions (created when absent). */
  store(e: HookEntry, layout: L, full: Tensor | undefined, t: Tensor, positions: Int32Array, n: number): Tensor;
  /** A second tensor this layout reads (difference): it must be observed too, before this one. */
  base?(layout: L): TensorRef | undefined;
}

type Of<K extends Layout["kind"]> = Extract<Layout, { kind: K }>;

const width = (e: HookEntry) => e.inner.reduce((a, b) => a * b, 1);

/** Checks `nRows` rows of `rowWidth` values. */
function rowsMismatch(g: SeqRows, rowWidth: number): string | undefined {
  return g.data.length === g.nRows * rowWidth ? undefined : `${g.nRows} rows of ${rowWidth}`;
}

/** Cache store for every layout with one row per position (all but attention), and for the logits. */
export function storeRows(dims: readonly string[], full: Tensor | undefined, t: Tensor, positions: Int32Array, n: number): Tensor {
  const w = t.size / t.shape[0];
  const out = full ?? new Tensor([n, ...t.shape.slice(1)], undefined, dims);
  positions.forEach((p, i) => out.data.set(t.data.subarray(i * w, (i + 1) * w), p * w));
  return out;
}

const rows: LayoutCodec<Of<"rows">> = {
  mismatch: (e, _l, g) => rowsMismatch(g, width(e)),
  read: (e, _l, g) => new Tensor([g.count, ...e.inner], g.data.slice(g.start * width(e), (g.start + g.count) * width(e)), e.dims),
  write: (e, _l, g, t) => g.data.set(t.data, g.start * width(e)),
  store: (e, _l, full, t, positions, n) => storeRows(e.dims, full, t, positions, n),
};

const columns: LayoutCodec<Of<"columns">> = {
  mismatch: (_e, l, g) => rowsMismatch(g, l.rowWidth),
  read(e, l, g) {
    const w = width(e);
    const t = new Tensor([g.count, ...e.inner], undefined, e.dims);
    for (let i = 0; i < g.count; i++) {
      const at = (g.start + i) * l.rowWidth + l.offset;
      t.data.set(g.data.subarray(at, at + l.width), i * w);
    }
    return t;
  },
  write(e, l, g, t) {
    const w = width(e);
    for (let i = 0; i < g.count; i++) g.data.set(t.data.subarray(i * w, i * w + w), (g.start + i) * l.rowWidth + l.offset);
  },
  store: (e, _l, full, t, positions, n) => storeRows(e.dims, full, t, positions, n),
};

const difference: LayoutCodec<Of<"difference">> = {
  mismatch: (e, _l, g) => rowsMismatch(g, width(e)),
  read(e, _l, g) {
    const w = width(e);
    const base = g.base!;
    const t = new Tensor([g.count, ...e.inner], undefined, e.dims);
    const o = g.start * w;
    for (let j = 0; j < g.count * w; j++) t.data[j] = g.data[o + j] - base[o + j];
    return t;
  },
  write(e, _l, g, t) {
    const o = g.start * width(e);
    const base = g.base!;
    for (let j = 0; j < t.size; j++) g.data[o + j] = base[o + j] + t.data[j];
  },
  store: (e, _l, full, t, positions, n) => storeRows(e.dims, full, t, positions, n),
  base: (l) => l.base,
};

/** [n_kv, tokens, head] over KV cells (ggml order) <-> [head, query_pos, key_pos] over the sequence's own keys. */
const attention: LayoutCodec<Of<"attention">> = {
  mismatch(e, _l, g) {
    const [, nTok, H] = g.ne;
    return nTok === g.nRows && H === e.inner[0] ? undefined : `[n_kv, ${g.nRows}, ${e.inner[0]}]`;
  },
  read(e, l, g) {
    const [nKv, , H] = g.ne;
    const K = g.cells.length;
    const scale = l.scale ?? 1;
    const t = new Tensor([H, g.count, K], undefined, e.dims);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < g.count; i++) {
        const src = (h * g.nRows + g.start + i) * nKv;
        const dst = (h * g.count + i) * K;
        for (let k = 0; k < K; k++) t.data[dst + k] = l.scale !== undefined && k > g.positions[i] ? -Infinity : g.data[src + g.cells[k]] * scale;
      }
    return t;
  },
  write(_e, l, g, t) {
    const [nKv, , H] = g.ne;
    const K = t.shape[2];
    const scale = l.scale ?? 1;
    for (let h = 0; h < H; h++)
      for (let i = 0; i < g.count; i++) {
        const dst = (h * g.nRows + g.start + i) * nKv;
        const src = (h * g.count + i) * K;
        for (let k = 0; k <= g.positions[i] && k < K; k++) g.data[dst + g.cells[k]] = t.data[src + k] / scale;
      }
  },
  store(e, l, full, t, positions, n) {
    const [H, q, K] = t.shape;
    let out = full;
    if (!out) {
      out = new Tensor([H, n, n], undefined, e.dims);
      if (l.scale !== undefined) out.data.fill(-Infinity);
    }
    for (let h = 0; h < H; h++)
      for (let i = 0; i < q; i++) out.data.set(t.data.subarray((h * q + i) * K, (h * q + i + 1) * K), (h * n + positions[i]) * n);
    return out;
  },
};

const codecs: { [K in Layout["kind"]]: LayoutCodec<Of<K>> } = { rows, columns, difference, attention };

/** The codec of a layout. */
export function layoutCodec(layout: Layout): LayoutCodec {
  return codecs[layout.kind] as LayoutCodec;
}
