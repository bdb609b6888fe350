// The claims samples/models/toy-circuits.truth.json makes, as measurements over any forward pass:
// toy-circuits.test.ts runs the same functions through the reference (test/reference) and through
// llama.cpp (src/engine).
// A forward takes token ids and hooks that read or edit activations in place (TransformerLens names).
import { parseComponent } from "../../src/protocol";

export interface Activation {
  shape: readonly number[];
  data: Float32Array;
}
export type ClaimHook = (t: Activation) => void;
/** Logits [pos, vocab] for `tokens` (the first is BOS), with the given hooks applied. */
export type ClaimForward = (tokens: number[], hooks?: Record<string, ClaimHook>) => Promise<Activation>;

export interface HeadRef {
  layer: number;
  head: number;
}

export interface ToyTruth {
  bos: number;
  nLayers: number;
  nHeads: number;
  dModel: number;
  contextLength: number;
  heads: Record<string, { role: string }>;
  induction: { previousTokenHead: string; inductionHead: string; tokenIds: number[] };
  indirectObject: { duplicateTokenHead: string; inhibitionHead: string; nameMoverHead: string; template: (number | "IO" | "S")[] };
  names: string[];
  nameTokenIds: number[];
  massive: { dim: number; fromLayer: number; value: number };
  sink: { heads: string[] };
}

export function parseHead(name: string): HeadRef {
  const c = parseComponent(name);
  if (c?.kind !== "head") throw new Error(`head name ${name} is not of the form a{layer}.h{head}`);
  return { layer: c.layer, head: c.head };
}

/** A hook on blocks.L.attn.hook_z that zeroes one head at every position. */
export function zeroHead(truth: ToyTruth, head: string): Record<string, ClaimHook> {
  const { layer, head: h } = parseHead(head);
  return {
    [`blocks.${layer}.attn.hook_z`]: (t) => {
      const [pos, nHead, dHead] = t.shape;
      if (nHead !== truth.nHeads) throw new Error(`hook_z has ${nHead} heads, expected ${truth.nHeads}`);
      for (let p = 0; p < pos; p++) t.data.fill(0, (p * nHead + h) * dHead, (p * nHead + h + 1) * dHead);
    },
  };
}

/** A hook that sets the massive dimension of the first token to zero where it first appears. */
export function zeroMassive(truth: ToyTruth): Record<string, ClaimHook> {
  return { [`blocks.${truth.massive.fromLayer}.hook_resid_pre`]: (t) => { t.data[truth.massive.dim] = 0; } };
}

/** Deterministic pseudo-random integers (the claims must draw the same sequences everywhere). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** BOS + n random distinct tokens + the same n again. */
export function inductionSequences(truth: ToyTruth, count = 16, n = 20, seed = 1): number[][] {
  const rand = lcg(seed);
  return Array.from({ length: count }, () => {
    const pool = [...truth.induction.tokenIds];
    const seq: number[] = [];
    for (let i = 0; i < n; i++) seq.push(pool.splice(rand(pool.length), 1)[0]);
    return [truth.bos, ...seq, ...seq];
  });
}

function argmaxRow(logits: Activation, pos: number): number {
  const V = logits.shape[1];
  let best = 0;
  for (let v = 1; v < V; v++) if (logits.data[pos * V + v] > logits.data[pos * V + best]) best = v;
  return best;
}

/** Top-1 accuracy on the second half: position n + k predicts token n + k + 1 (k = 1..n-1). */
export async function inductionAccuracy(forward: ClaimForward, truth: ToyTruth, hooks: Record<string, ClaimHook> = {}, seqs = inductionSequences(truth)): Promise<number> {
  let right = 0, total = 0;
  for (const s of seqs) {
    const n = (s.length - 1) / 2;
    const logits = await forward(s, hooks);
    for (let p = n + 1; p < 2 * n; p++) {
      total++;
      if (argmaxRow(logits, p) === s[p + 1]) right++;
    }
  }
  return right / total;
}

/** The prompt of the template with io and s filled in (template words are token ids or slots). */
export function ioiPrompt(truth: ToyTruth, template: (number | "IO" | "S")[], io: number, s: number): number[] {
  return [truth.bos, ...template.map((t) => (t === "IO" ? io : t === "S" ? s : t))];
}

export interface IoiResult {
  io: number;
  s: number;
  /** logit(IO) - logit(S) at the last position */
  diff: number;
  /** the last position's top-1 token */
  top: number;
}

/** logit(IO) - logit(S) on every ordered pair of names. */
export async function ioiLogitDiffs(forward: ClaimForward, truth: ToyTruth, template: (number | "IO" | "S")[], hooks: Record<string, ClaimHook> = {}): Promise<IoiResult[]> {
  const out: IoiResult[] = [];
  for (const io of truth.nameTokenIds) {
    for (const s of truth.nameTokenIds) {
      if (io === s) continue;
      const tokens = ioiPrompt(truth, template, io, s);
      const logits = await forward(tokens, hooks);
      const V = logits.shape[1];
      const last = tokens.length - 1;
      out.push({ io, s, diff: logits.data[last * V + io] - logits.data[last * V + s], top: argmaxRow(logits, last) });
    }
  }
  return out;
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** |massive dim of the first token| / median |residual| over every position and dimension, per layer from fromLayer on. */
export async function massiveRatios(forward: ClaimForward, truth: ToyTruth, tokens: number[]): Promise<{ layer: number; value: number; ratio: number }[]> {
  const seen: { layer: number; value: number; ratio: number }[] = [];
  const hooks: Record<string, ClaimHook> = {};
  for (let l = truth.massive.fromLayer; l < truth.nLayers; l++) {
    hooks[`blocks.${l}.hook_resid_post`] = (t) => {
      const abs = Array.from(t.data, Math.abs).sort((a, b) => a - b);
      const median = abs[Math.floor(abs.length / 2)];
      seen.push({ layer: l, value: t.data[truth.massive.dim], ratio: Math.abs(t.data[truth.massive.dim]) / median });
    };
  }
  hooks[`blocks.${truth.massive.fromLayer}.hook_resid_pre`] = (t) => {
    const abs = Array.from(t.data, Math.abs).sort((a, b) => a - b);
    seen.push({ layer: truth.massive.fromLayer - 0.5, value: t.data[truth.massive.dim], ratio: Math.abs(t.data[truth.massive.dim]) / abs[Math.floor(abs.length / 2)] });
  };
  await forward(tokens, hooks);
  // by layer, whatever order a backend runs its hooks in
  return seen.sort((a, b) => a.layer - b.layer);
}

/** Attention of one head from the given query positions to key position 0, averaged. */
export async function attentionToFirst(forward: ClaimForward, head: string, tokens: number[], queries: number[], hooks: Record<string, ClaimHook> = {}): Promise<number> {
  const { layer, head: h } = parseHead(head);
  let got = NaN;
  const name = `blocks.${layer}.attn.hook_pattern`;
  const all = { ...hooks };
  const prior = hooks[name];
  all[name] = (t) => {
    prior?.(t);
    const [, nq, nk] = t.shape;
    got = mean(queries.map((q) => t.data[(h * nq + q) * nk + 0]));
  };
  await forward(tokens, all);
  return got;
}

/** Attention of one head from query position q to key position k. */
export async function attentionAt(forward: ClaimForward, head: string, tokens: number[], q: number, k: number): Promise<number> {
  const { layer, head: h } = parseHead(head);
  let got = NaN;
  await forward(tokens, {
    [`blocks.${layer}.attn.hook_pattern`]: (t) => {
      const [, nq, nk] = t.shape;
      got = t.data[(h * nq + q) * nk + k];
    },
  });
  return got;
}
