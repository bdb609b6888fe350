/**
 * Runs sequences through llama.cpp with hooks: packs them into as few llama_decode calls as the
 * context allows (each sequence its own seq_id), observes the graph tensors the requested hooks
 * live in, and hands each sequence its own rows (layouts.ts reads and writes them). Rows follow batch
 * order because one decode is one micro-batch (n_ubatch = n_batch, kv_unified); KV cells are taken in
 * batch order from an empty cache, and a shared prefix's cells are shared (llama_memory_seq_cp adds
 * sequence ids to the same cells), so each sequence's keys are the prefix's cells, then its own.
 */
import { BadArgumentError, ContextOverflowError, DecodeError, EngineError, HookShapeError, InterruptedError } from "./errors";
import { needsAllOutputs, tensorKey, type HookEntry } from "./hook-table";
import { layoutCodec, storeRows, type SeqRows } from "./layouts";
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

export interface BatchOptions {
  /**
   * The first `sharedPrefix` tokens are the same in every plan: they are decoded once and their KV
   * cells shared by every sequence. Hooks and caches then see only positions >= sharedPrefix.
   */
  sharedPrefix?: number;
  /** Called after each decode with the number of plans finished so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** What the last run or generate call sent to llama.cpp. */
export interface RunStats {
  /** llama_decode calls */
  decodes: number;
  /** tokens those calls carried */
  decodedTokens: number;
  /** prefix tokens that were not decoded because sequences shared them */
  sharedPrefixTokens: number;
}

interface SeqState {
  plan: SequencePlan;
  /** llama.cpp seq_id: the index within its decode group */
  index: number;
  /** index in the run call's plans */
  item: number;
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
  private stats: RunStats = { decodes: 0, decodedTokens: 0, sharedPrefixTokens: 0 };

  constructor(
    private readonly ctx: NativeContext,
    private readonly entries: Map<string, HookEntry>,
    private readonly limits: RunnerLimits,
    private readonly interrupted: () => boolean,
    private readonly takeLog: () => string,
  ) {}

  /** Forward passes of independent sequences; results in input order. */
  run(plans: SequencePlan[], options: BatchOptions = {}): SequenceResult[] {
    const { nCtx, nSeqMax } = this.limits;
    const prefix = this.checkPrefix(plans, options.sharedPrefix ?? 0);
    for (const p of plans) this.checkLength(p.tokens.length);
    this.stats = { decodes: 0, decodedTokens: 0, sharedPrefixTokens: 0 };
    const results: SequenceResult[] = [];
    let group: SequencePlan[] = [];
    let used = prefix;
    const flush = () => {
      if (group.length) results.push(...this.runGroup(group, results.length, plans.length, prefix, options.onProgress));
      group = [];
      used = prefix;
    };
    for (const p of plans) {
      if (group.length === nSeqMax || used + p.tokens.length - prefix > nCtx) flush();
      group.push(p);
      used += p.tokens.length - prefix;
    }
    flush();
    return results;
  }

  lastRunStats(): RunStats {
    return { ...this.stats };
  }

  /** Greedy or sampled continuation of one sequence, hooks applied at every step. */
  generate(plan: SequencePlan, maxTokens: number, pick: (logits: Float32Array) => number, stop: (token: number) => boolean): number[] {
    this.checkLength(plan.tokens.length);
    this.checkLength(plan.tokens.length + maxTokens, "The prompt plus maxTokens come to");
    this.stats = { decodes: 0, decodedTokens: 0, sharedPrefixTokens: 0 };
    const seq = this.begin([plan], 0)[0];
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
    const seq = this.begin([{ tokens, hooks: new Map(), cache: new Set(), logits: "last" }], 0)[0];
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

  /** The shared prefix length, after checking every plan starts with the same `p` tokens and has more. */
  private checkPrefix(plans: SequencePlan[], p: number): number {
    if (!Number.isInteger(p) || p < 0) throw new BadArgumentError(`sharedPrefix must be a non-negative integer (a token count), got ${p}.`);
    if (p === 0 || plans.length === 0) return 0;
    const first = plans[0].tokens;
    plans.forEach((plan, i) => {
      if (plan.tokens.length <= p) {
        throw new BadArgumentError(`sharedPrefix ${p} leaves item ${i} (${plan.tokens.length} tokens) no token of its own: every item needs more tokens than the shared prefix. Use a smaller sharedPrefix.`);
      }
      for (let k = 0; k < p; k++) {
        if (plan.tokens[k] !== first[k]) {
          throw new BadArgumentError(`sharedPrefix ${p}: item ${i} differs from item 0 at position ${k} (token ${plan.tokens[k]}, item 0 has ${first[k]}). Give a sharedPrefix of at most ${k}, or make the items start alike.`);
        }
      }
    });
    if (p > this.limits.nCtx) throw new ContextOverflowError(p, this.limits.nCtx, "The shared prefix has");
    return p;
  }

  private begin(plans: SequencePlan[], firstItem: number): SeqState[] {
    this.ctx.clear();
    this.nextCell = 0;
    return plans.map((plan, index) => ({
      plan,
      index,
      item: firstItem + index,
      cells: [],
      cache: new Map(),
      logits: new Float32Array((plan.logits === "all" ? plan.tokens.length : 1) * this.limits.nVocab),
      step: 0,
      allOutputs: [...plan.hooks.keys(), ...plan.cache].some((n) => n === "logits" || needsAllOutputs(this.entries.get(n)!, this.limits.nLayers)),
    }));
  }

  private runGroup(plans: SequencePlan[], firstItem: number, total: number, prefix: number, onProgress?: (done: number, total: number) => void): SequenceResult[] {
    const seqs = this.begin(plans, firstItem);
    if (prefix) this.decodePrefix(seqs, prefix);
    const observed = this.observe(seqs);
    const rows: BatchRow[] = seqs.flatMap((seq) => Array.from(seq.plan.tokens.subarray(prefix), (token, i) => ({ seq, pos: prefix + i, token })));
    for (let i = 0; i < rows.length; i += this.limits.nBatch) {
      this.decode(rows.slice(i, i + this.limits.nBatch), observed, true);
      if (onProgress) {
        const end = Math.min(i + this.limits.nBatch, rows.length);
        const finished = end === rows.length ? seqs.length : rows[end].seq.index;
        onProgress(firstItem + finished, total);
      }
    }
    if (prefix) for (const s of seqs) for (const t of s.cache.values()) blankRows(t, prefix);
    return seqs.map((s) => ({
      logits: new Tensor([s.plan.logits === "all" ? s.plan.tokens.length : 1, this.limits.nVocab], s.logits, ["pos", "vocab"]),
      cache: s.cache,
    }));
  }

  /** One llama_decode of these tokens, counted; an abort is InterruptedError, any other failure DecodeError. */
  private llamaDecode(...args: Parameters<NativeContext["decode"]>): void {
    const status = this.ctx.decode(...args);
    this.count(args[0].length);
    if (status === 2) throw new InterruptedError();
    if (status !== 0) throw new DecodeError(status, this.takeLog());
  }

  /**
   * Decodes the first `p` tokens once as sequence 0, unobserved, then shares their KV cells with every
   * other sequence. Their logits are the same for every sequence (nothing before p is hooked).
   */
  private decodePrefix(seqs: SeqState[], p: number) {
    const V = this.limits.nVocab;
    const tokens = seqs[0].plan.tokens;
    const wantAll = seqs.filter((s) => s.plan.logits === "all");
    const cells: number[] = [];
    for (let start = 0; start < p; start += this.limits.nBatch) {
      if (this.interrupted()) throw new InterruptedError();
      const n = Math.min(this.limits.nBatch, p - start);
      const positions = Int32Array.from({ length: n }, (_, i) => start + i);
      const outputs = new Uint8Array(n).fill(wantAll.length ? 1 : 0);
      this.llamaDecode(tokens.slice(start, start + n), positions, new Int32Array(n), outputs);
      for (let i = 0; i < n; i++) cells.push(this.nextCell++);
      if (wantAll.length) {
        const logits = this.ctx.logits(Int32Array.from({ length: n }, (_, i) => i));
        for (const s of wantAll) s.logits.set(logits, start * V);
      }
    }
    for (const s of seqs) {
      if (s.index !== 0) this.ctx.seqCopy(0, s.index);
      s.cells.push(...cells);
    }
    this.stats.sharedPrefixTokens += p * (seqs.length - 1);
  }

  private count(tokens: number) {
    this.stats.decodes++;
    this.stats.decodedTokens += tokens;
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
      const base = layoutCodec(e.layout).base?.(e.layout);
      if (base) {
        const b = tensorKey(base);
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
      for (const e of observed.entries[index]) edited = this.apply(e, data, ne, positions, spans, baseValues) || edited;
      const key = observed.keys[index];
      if (observed.bases.has(key)) baseValues.set(key, data.slice());
      return edited;
    };
    this.llamaDecode(tokens, positions, seqIds, outputs, observed.keys.length ? onTensor : undefined);
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
      if (seq.plan.cache.has("logits")) seq.cache.set("logits", storeRows(t.dims, seq.cache.get("logits"), t, pos, seq.plan.tokens.length));
      if (seq.plan.logits === "all" && seq.step === 0) want.forEach((i, k) => seq.logits.set(t.data.subarray(k * V, (k + 1) * V), rows[i].pos * V));
      else seq.logits.set(t.data.subarray((want.length - 1) * V));
    }
  }

  /** Runs the hooks of one entry for every sequence in the batch; true when it edited `data`. */
  private apply(
    e: HookEntry,
    data: Float32Array,
    ne: number[],
    positions: Int32Array,
    spans: Map<SeqState, { start: number; count: number }>,
    baseValues: Map<string, Float32Array>,
  ): boolean {
    const codec = layoutCodec(e.layout);
    const baseRef = codec.base?.(e.layout);
    const base = baseRef && baseValues.get(tensorKey(baseRef));
    if (baseRef && !base) throw new EngineError("decode-failed", `${e.name}: ${tensorKey(baseRef)} was not seen before ${tensorKey(e.tensor!)}.`);
    let edited = false;
    for (const [seq, span] of spans) {
      const hooks = seq.plan.hooks.get(e.name);
      const keep = seq.plan.cache.has(e.name);
      if (!hooks && !keep) continue;
      const g: SeqRows = { data, ne, nRows: positions.length, ...span, positions: positions.subarray(span.start, span.start + span.count), cells: seq.cells, base };
      const expected = codec.mismatch(e, e.layout, g);
      if (expected) this.shapeMismatch(e, ne, expected);
      const r = this.runHooks(e.name, e.layer, seq, codec.read(e, e.layout, g), g.positions, hooks);
      if (hooks) {
        codec.write(e, e.layout, g, r);
        edited = true;
      }
      if (keep) seq.cache.set(e.name, codec.store(e, e.layout, seq.cache.get(e.name), r, g.positions, seq.plan.tokens.length));
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
      const r = fn(cur, { name, layer, seq: seq.item, positions, step: seq.step });
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
}

/** Rows of a cached tensor before the shared prefix were not recorded: NaN, so no one mistakes them for values. */
function blankRows(t: Tensor, prefix: number) {
  if (t.dims[0] === "pos") {
    t.data.fill(NaN, 0, prefix * (t.size / t.shape[0]));
    return;
  }
  // attention: [head, query_pos, key_pos]
  const [H, n] = t.shape;
  for (let h = 0; h < H; h++) t.data.fill(NaN, h * n * n, (h * n + prefix) * n);
}
