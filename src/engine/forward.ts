/**
 * Runs sequences through llama.cpp with hooks: packs them into as few llama_decode calls as the
 * context allows (each sequence its own seq_id), observes the graph tensors the requested hooks
 * live in, and hands each sequence its own rows. Rows follow batch order because one decode is one
 * micro-batch (n_ubatch = n_batch, kv_unified); KV cells are taken in batch order from an empty cache.
 */
import { BadArgumentError, ContextOverflowError, DecodeError, EngineError, HookShapeError, InterruptedError } from "./errors";
import { needsAllOutputs, tensorKey, type HookEntry } from "./hook-table";
import type { NativeContext, NativeTraceEntry } from "./native";
import { Tensor } from "./tensor";

export interface HookContext {
  /** the hook name, e.g. "blocks.3.attn.hook_z" */
  name: string;
  layer: number | null;
  /** index of the sequence in its runBatch call (0 for single runs) */
  seq: number;
  /** absolute position of each row of the tensor (query positions for attention hooks) */
  positions: Int32Array;
  /** 0 for the prompt, then 1, 2, ... for each generated token */
  step: number;
}

/** Edit `tensor` in place (return nothing) or return a replacement of the same shape. */
export type HookFn = (tensor: Tensor, ctx: HookContext) => Tensor | Float32Array | void;

export interface SequencePlan {
  tokens: Int32Array;
  hooks: Map<string, HookFn[]>;
  /** hook names whose values are kept */
  cache: Set<string>;
  logits: "all" | "last";
}

export interface SequenceResult {
  /** [pos, vocab], or [1, vocab] for logits "last" */
  logits: Tensor;
  cache: Map<string, Tensor>;
}

interface SeqState {
  plan: SequencePlan;
  index: number;
  /** KV cells of this sequence's tokens so far, in position order */
  cells: number[];
  cache: Map<string, Tensor>;
  logits: Float32Array;
  step: number;
  /** a requested hook lives where llama.cpp keeps only output rows unless every row is an output */
  allOutputs: boolean;
}

interface BatchRow {
  seq: SeqState;
  pos: number;
  token: number;
}

/** Observed graph tensors of one decode: for each, the hook entries on it in forward order. */
interface Observed {
  keys: string[];
  entries: HookEntry[][];
  /** keys whose (edited) values `difference` entries subtract */
  bases: Set<string>;
}

export interface RunnerLimits {
  nCtx: number;
  /** Positions one sequence may use: the trained length where positions are a learned table (gpt2), else nCtx. */
  maxPositions: number;
  nBatch: number;
  nSeqMax: number;
  nLayers: number;
  nVocab: number;
}

export class Runner {
  private nextCell = 0;

  constructor(
    private readonly ctx: NativeContext,
    private readonly entries: Map<string, HookEntry>,
    private readonly limits: RunnerLimits,
    private readonly interrupted: () => boolean,
    private readonly takeLog: () => string,
  ) {}

  /** Forward passes of independent sequences; results in input order. */
  run(plans: SequencePlan[]): SequenceResult[] {
    const { nCtx, nSeqMax } = this.limits;
    for (const p of plans) this.checkLength(p.tokens.length);
    const results: SequenceResult[] = [];
    let group: SequencePlan[] = [];
    let used = 0;
    const flush = () => {
      if (group.length) results.push(...this.runGroup(group));
      group = [];
      used = 0;
    };
    for (const p of plans) {
      if (group.length === nSeqMax || used + p.tokens.length > nCtx) flush();
      group.push(p);
      used += p.tokens.length;
    }
    flush();
    return results;
  }

  /** Greedy or sampled continuation of one sequence, hooks applied at every step. */
  generate(plan: SequencePlan, maxTokens: number, pick: (logits: Float32Array) => number, stop: (token: number) => boolean): number[] {
    this.checkLength(plan.tokens.length);
    this.checkLength(plan.tokens.length + maxTokens, "The prompt plus maxTokens come to");
    const seq = this.begin([plan])[0];
    const observed = this.observe([seq]);
    const generated: number[] = [];
    let rows: BatchRow[] = Array.from(plan.tokens, (token, pos) => ({ seq, pos, token }));
    for (;;) {
      for (let i = 0; i < rows.length; i += this.limits.nBatch) {
        this.decode(rows.slice(i, i + this.limits.nBatch), observed, i + this.limits.nBatch >= rows.length);
      }
      if (generated.length === maxTokens) break;
      const token = pick(seq.logits);
      if (stop(token)) break;
      generated.push(token);
      if (generated.length === maxTokens) break;
      seq.step++;
      rows = [{ seq, pos: plan.tokens.length + generated.length - 1, token }];
    }
    return generated;
  }

  /** Every graph node llama.cpp evaluates for `tokens` (name, op, ggml dims), in order. */
  trace(tokens: Int32Array): NativeTraceEntry[] {
    this.checkLength(tokens.length);
    if (tokens.length > this.limits.nBatch) throw new BadArgumentError(`Trace at most ${this.limits.nBatch} tokens (one decode).`);
    const seq = this.begin([{ tokens, hooks: new Map(), cache: new Set(), logits: "last" }])[0];
    const observed = this.observe([seq]);
    this.ctx.trace(true);
    try {
      this.decode(Array.from(tokens, (token, pos) => ({ seq, pos, token })), observed, true);
    } catch (e) {
      this.ctx.trace(false);
      throw e;
    }
    return this.ctx.trace(false);
  }

  private checkLength(n: number, what?: string) {
    if (n === 0) throw new BadArgumentError("The input is empty: give some text or at least one token id.");
    const { nCtx, maxPositions } = this.limits;
    // Past a learned position table llama.cpp's get_rows asserts and aborts the whole process.
    if (n > maxPositions && maxPositions < nCtx) throw new ContextOverflowError(n, nCtx, what, maxPositions);
    if (n > nCtx) throw new ContextOverflowError(n, nCtx, what);
  }

  private begin(plans: SequencePlan[]): SeqState[] {
    this.ctx.clear();
    this.nextCell = 0;
    return plans.map((plan, index) => ({
      plan,
      index,
      cells: [],
      cache: new Map(),
      logits: new Float32Array((plan.logits === "all" ? plan.tokens.length : 1) * this.limits.nVocab),
      step: 0,
      allOutputs: [...plan.hooks.keys(), ...plan.cache].some((n) => n === "logits" || needsAllOutputs(this.entries.get(n)!, this.limits.nLayers)),
    }));
  }

  private runGroup(plans: SequencePlan[]): SequenceResult[] {
    const seqs = this.begin(plans);
    const observed = this.observe(seqs);
    const rows: BatchRow[] = seqs.flatMap((seq) => Array.from(seq.plan.tokens, (token, pos) => ({ seq, pos, token })));
    for (let i = 0; i < rows.length; i += this.limits.nBatch) this.decode(rows.slice(i, i + this.limits.nBatch), observed, true);
    return seqs.map((s) => ({
      logits: new Tensor([s.plan.logits === "all" ? s.plan.tokens.length : 1, this.limits.nVocab], s.logits, ["pos", "vocab"]),
      cache: s.cache,
    }));
  }

  private observe(seqs: SeqState[]): Observed {
    const names = new Set<string>();
    for (const s of seqs) {
      for (const n of s.plan.hooks.keys()) names.add(n);
      for (const n of s.plan.cache) names.add(n);
    }
    const keys: string[] = [];
    const entries: HookEntry[][] = [];
    const bases = new Set<string>();
    const slot = (key: string) => {
      let i = keys.indexOf(key);
      if (i < 0) {
        i = keys.push(key) - 1;
        entries.push([]);
      }
      return i;
    };
    // Table order is forward order, so entries sharing a tensor run in the order TransformerLens has them.
    for (const e of this.entries.values()) {
      if (!names.has(e.name) || !e.tensor) continue;
      entries[slot(tensorKey(e.tensor))].push(e);
      if (e.layout.kind === "difference") {
        const b = tensorKey(e.layout.base);
        slot(b);
        bases.add(b);
      }
    }
    this.ctx.observe(keys);
    return { keys, entries, bases };
  }

  private decode(rows: BatchRow[], observed: Observed, wantLogits: boolean) {
    if (this.interrupted()) throw new InterruptedError();
    const n = rows.length;
    const tokens = new Int32Array(n);
    const positions = new Int32Array(n);
    const seqIds = new Int32Array(n);
    const outputs = new Uint8Array(n);
    const allOutputs = rows.some((r) => r.seq.allOutputs);
    const spans = new Map<SeqState, { start: number; count: number }>();
    rows.forEach((r, i) => {
      tokens[i] = r.token;
      positions[i] = r.pos;
      seqIds[i] = r.seq.index;
      const last = r.pos === r.seq.plan.tokens.length - 1 + r.seq.step;
      outputs[i] = allOutputs || (wantLogits && (r.seq.plan.logits === "all" || last)) ? 1 : 0;
      r.seq.cells.push(this.nextCell++);
      const span = spans.get(r.seq);
      if (span) span.count++;
      else spans.set(r.seq, { start: i, count: 1 });
    });
    const baseValues = new Map<string, Float32Array>();
    const seen = new Set<number>();
    const onTensor = (index: number, data: Float32Array, ne: number[]): boolean => {
      seen.add(index);
      let edited = false;
      for (const e of observed.entries[index]) edited = this.apply(e, data, ne, rows, positions, spans, baseValues) || edited;
      const key = observed.keys[index];
      if (observed.bases.has(key)) baseValues.set(key, data.slice());
      return edited;
    };
    const status = this.ctx.decode(tokens, positions, seqIds, outputs, observed.keys.length ? onTensor : undefined);
    if (status === 2) throw new InterruptedError();
    if (status !== 0) throw new DecodeError(status, this.takeLog());
    // A requested hook whose tensor never showed up would silently be missing from the results.
    const missing = observed.keys.filter((_, i) => !seen.has(i));
    if (missing.length) {
      const hooks = missing.flatMap((k) => observed.entries[observed.keys.indexOf(k)].map((e) => e.name));
      throw new EngineError(
        "decode-failed",
        `llama.cpp's graph for this model has no tensor ${missing.join(", ")}${hooks.length ? ` (for ${hooks.join(", ")})` : ""}: this model variant is not covered by the hook table. Use other hooks, and please report it.`,
      );
    }
    this.collectLogits(rows, outputs, spans);
  }

  private collectLogits(rows: BatchRow[], outputs: Uint8Array, spans: Map<SeqState, { start: number; count: number }>) {
    const V = this.limits.nVocab;
    for (const [seq, span] of spans) {
      const want: number[] = [];
      for (let i = span.start; i < span.start + span.count; i++) {
        const last = rows[i].pos === seq.plan.tokens.length - 1 + seq.step;
        if (outputs[i] && (seq.plan.logits === "all" || last)) want.push(i);
      }
      if (!want.length) continue;
      let t = new Tensor([want.length, V], this.ctx.logits(Int32Array.from(want)), ["pos", "vocab"]);
      const pos = Int32Array.from(want, (i) => rows[i].pos);
      t = this.runHooks("logits", null, seq, t, pos);
      if (seq.plan.cache.has("logits")) this.cacheRows(seq, "logits", t, pos);
      if (seq.plan.logits === "all" && seq.step === 0) want.forEach((i, k) => seq.logits.set(t.data.subarray(k * V, (k + 1) * V), rows[i].pos * V));
      else seq.logits.set(t.data.subarray((want.length - 1) * V));
    }
  }

  /** Runs the hooks of one entry for every sequence in the batch; true when it edited `data`. */
  private apply(
    e: HookEntry,
    data: Float32Array,
    ne: number[],
    rows: BatchRow[],
    positions: Int32Array,
    spans: Map<SeqState, { start: number; count: number }>,
    baseValues: Map<string, Float32Array>,
  ): boolean {
    const N = rows.length;
    let edited = false;
    for (const [seq, span] of spans) {
      const hooks = seq.plan.hooks.get(e.name);
      const keep = seq.plan.cache.has(e.name);
      if (!hooks && !keep) continue;
      const pos = positions.subarray(span.start, span.start + span.count);
      const L = e.layout;
      if (L.kind === "attention") {
        const [nKv, nTok, H] = ne;
        if (nTok !== N || H !== e.inner[0]) this.shapeMismatch(e, ne, `[n_kv, ${N}, ${e.inner[0]}]`);
        const cells = seq.cells;
        const K = cells.length;
        const scale = L.scale ?? 1;
        const t = new Tensor([H, span.count, K], undefined, e.dims);
        for (let h = 0; h < H; h++)
          for (let i = 0; i < span.count; i++) {
            const src = (h * N + span.start + i) * nKv;
            const dst = (h * span.count + i) * K;
            for (let k = 0; k < K; k++) t.data[dst + k] = L.scale !== undefined && k > pos[i] ? -Infinity : data[src + cells[k]] * scale;
          }
        const r = this.runHooks(e.name, e.layer, seq, t, pos, hooks);
        if (hooks) {
          for (let h = 0; h < H; h++)
            for (let i = 0; i < span.count; i++) {
              const dst = (h * N + span.start + i) * nKv;
              const src = (h * span.count + i) * K;
              for (let k = 0; k <= pos[i] && k < K; k++) data[dst + cells[k]] = r.data[src + k] / scale;
            }
          edited = true;
        }
        if (keep) this.cacheAttention(seq, e, r, pos);
        continue;
      }
      const width = L.kind === "columns" ? L.rowWidth : e.inner.reduce((a, b) => a * b, 1);
      if (data.length !== N * width) this.shapeMismatch(e, ne, `${N} rows of ${width}`);
      const w = e.inner.reduce((a, b) => a * b, 1);
      const t = new Tensor([span.count, ...e.inner], undefined, e.dims);
      let base: Float32Array | undefined;
      if (L.kind === "difference") {
        base = baseValues.get(tensorKey(L.base));
        if (!base) throw new EngineError("decode-failed", `${e.name}: ${tensorKey(L.base)} was not seen before ${tensorKey(e.tensor!)}.`);
      }
      for (let i = 0; i < span.count; i++) {
        const row = span.start + i;
        if (L.kind === "columns") t.data.set(data.subarray(row * width + L.offset, row * width + L.offset + L.width), i * w);
        else if (L.kind === "difference") for (let j = 0; j < w; j++) t.data[i * w + j] = data[row * w + j] - base![row * w + j];
        else t.data.set(data.subarray(row * w, row * w + w), i * w);
      }
      const r = this.runHooks(e.name, e.layer, seq, t, pos, hooks);
      if (hooks) {
        for (let i = 0; i < span.count; i++) {
          const row = span.start + i;
          if (L.kind === "columns") data.set(r.data.subarray(i * w, i * w + w), row * width + L.offset);
          else if (L.kind === "difference") for (let j = 0; j < w; j++) data[row * w + j] = base![row * w + j] + r.data[i * w + j];
          else data.set(r.data.subarray(i * w, i * w + w), row * w);
        }
        edited = true;
      }
      if (keep) this.cacheRows(seq, e.name, r, pos);
    }
    return edited;
  }

  private shapeMismatch(e: HookEntry, ne: number[], expected: string): never {
    throw new EngineError(
      "decode-failed",
      `Graph tensor ${tensorKey(e.tensor!)} for ${e.name} has ggml shape [${ne.join(", ")}], expected ${expected}. ` +
        "The hook table does not match this llama.cpp build; please report it.",
    );
  }

  private runHooks(name: string, layer: number | null, seq: SeqState, t: Tensor, positions: Int32Array, hooks = seq.plan.hooks.get(name)): Tensor {
    if (!hooks) return t;
    let cur = t;
    for (const fn of hooks) {
      const r = fn(cur, { name, layer, seq: seq.index, positions, step: seq.step });
      if (r === undefined || r === null) continue;
      if (typeof (r as { then?: unknown }).then === "function") {
        throw new BadArgumentError(`The hook for ${name} returned a Promise. Hooks run inside llama.cpp's forward pass and must be synchronous: drop async/await from it.`);
      }
      if (r instanceof Tensor) {
        if (r.shape.length !== cur.shape.length || r.shape.some((s, i) => s !== cur.shape[i])) throw new HookShapeError(name, cur.shape, r.shape);
        cur = new Tensor(cur.shape, r.data, cur.dims);
      } else if (r instanceof Float32Array) {
        if (r.length !== cur.size) throw new HookShapeError(name, cur.shape, `a Float32Array of ${r.length} values (needs ${cur.size})`);
        cur = new Tensor(cur.shape, r, cur.dims);
      } else {
        throw new HookShapeError(name, cur.shape, `a ${typeof r === "object" ? (r as object).constructor?.name ?? "object" : typeof r}`);
      }
    }
    return cur;
  }

  private cacheRows(seq: SeqState, name: string, t: Tensor, positions: Int32Array) {
    const n = seq.plan.tokens.length;
    let full = seq.cache.get(name);
    const w = t.size / t.shape[0];
    if (!full) {
      full = new Tensor([n, ...t.shape.slice(1)], undefined, t.dims);
      seq.cache.set(name, full);
    }
    positions.forEach((p, i) => full!.data.set(t.data.subarray(i * w, (i + 1) * w), p * w));
  }

  private cacheAttention(seq: SeqState, e: HookEntry, t: Tensor, positions: Int32Array) {
    const n = seq.plan.tokens.length;
    const [H, q, K] = t.shape;
    let full = seq.cache.get(e.name);
    if (!full) {
      full = new Tensor([H, n, n], undefined, e.dims);
      if (e.layout.kind === "attention" && e.layout.scale !== undefined) full.data.fill(-Infinity);
      seq.cache.set(e.name, full);
    }
    for (let h = 0; h < H; h++)
      for (let i = 0; i < q; i++) full.data.set(t.data.subarray((h * q + i) * K, (h * q + i + 1) * K), (h * n + positions[i]) * n);
  }
}
