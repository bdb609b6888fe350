/**
 * Metrics on the last position's logits, as TransformerLens and the IOI papers use them. A token
 * given as a string means the token it becomes as a continuation of the prompt (" Mary" after
 * "...gave a drink to"), so a tokenizer that adds a space of its own still gives one token.
 * Each metric has a JSON spec so a sweep can be re-run from its description (click-to-patch,
 * "Insert as code").
 */
import { BadArgumentError, checkIndex, type Model } from "../engine";
import type { TokenizedPrompt } from "./inputs";

/** A token as text (a continuation of the prompt) or as an id. */
export type TokenSpec = string | number;
/** One token for every prompt, or one per prompt of a dataset. */
export type TokenChoice = TokenSpec | readonly TokenSpec[];

export type MetricSpec =
  | { kind: "logitDiff"; correct: TokenChoice; wrong: TokenChoice }
  | { kind: "logProb"; token: TokenChoice }
  | { kind: "prob"; token: TokenChoice }
  | { kind: "klToClean" };

/** Evaluates prompt `i`'s last-position logits; `clean` is the clean run's row for that prompt. */
export type BoundMetric = (i: number, logits: Float32Array, clean: Float32Array) => number;

export interface Metric {
  /** e.g. `logit(" Mary") - logit(" John")` */
  readonly name: string;
  /** null for a metric made from a function (it cannot be re-created from text) */
  readonly spec: MetricSpec | null;
  /** whether higher means more like the clean run (false for klToClean) */
  readonly higherIsClean: boolean;
  bind(model: Model, prompts: readonly TokenizedPrompt[]): BoundMetric;
}

/** A metric, or a function of (last-position logits, prompt index) as a custom metric. */
export type MetricLike = Metric | ((logits: Float32Array, index: number) => number);

export function toMetric(m: MetricLike | undefined): Metric {
  if (m === undefined) throw new BadArgumentError("A metric is required, e.g. steer.metrics.logitDiff(\" Mary\", \" John\").");
  if (typeof m === "function") return custom(m.name || "custom metric", m);
  if (typeof m.bind !== "function") throw new BadArgumentError("metric must be a steer.metrics value or a function (logits, index) => number.");
  return m;
}

/** The token `t` stands for after prompt `p` (ids pass through, checked against the vocabulary). */
export function resolveToken(model: Model, t: TokenSpec, prompt?: TokenizedPrompt): number {
  if (typeof t === "number") {
    return checkIndex("Token id", t, model.config.nVocab, `the vocabulary has ${model.config.nVocab} tokens`);
  }
  if (typeof t !== "string" || t === "") throw new BadArgumentError(`A token must be a non-empty string or a token id, got ${JSON.stringify(t)}.`);
  // Tokenize prompt + t and take what t added; an anchor word stands in for prompts given as ids.
  const context = prompt?.text ?? "x";
  const base = model.tokenize(context, { bos: false });
  const full = model.tokenize(context + t, { bos: false });
  const prefixKept = base.every((b, i) => full[i] === b);
  const added = full.slice(base.length);
  if (prefixKept && added.length === 1) return added[0];
  const alone = model.tokenize(t, { bos: false });
  if (alone.length === 1) return alone[0];
  const pieces = model.toStr(prefixKept ? added : alone).map((s) => JSON.stringify(s)).join(" + ");
  throw new BadArgumentError(
    `${JSON.stringify(t)} is not one token for this model: after the prompt it tokenizes as ${pieces}. ` +
      "Metrics compare single tokens: pick a word that is one token, or pass a token id.",
  );
}

function tokenFor(model: Model, choice: TokenChoice, prompts: readonly TokenizedPrompt[], what: string): number[] {
  if (Array.isArray(choice)) {
    if (choice.length !== prompts.length) throw new BadArgumentError(`${what} lists ${choice.length} tokens for ${prompts.length} prompts: give one per prompt, or a single token for all.`);
    return choice.map((c, i) => resolveToken(model, c, prompts[i]));
  }
  return prompts.map((p) => resolveToken(model, choice as TokenSpec, p));
}

const show = (c: TokenChoice) => (Array.isArray(c) ? `[${c.length} tokens]` : JSON.stringify(c));

/** log(sum(exp(logits))), shifted by the maximum so it cannot overflow. */
function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** log p(token) of one logits row, without building the whole distribution. */
export function logSoftmaxAt(logits: Float32Array, token: number): number {
  return logits[token] - logSumExp(logits);
}

export function logSoftmax(logits: Float32Array): Float64Array {
  const lse = logSumExp(logits);
  return Float64Array.from(logits, (v) => v - lse);
}

/** logit(correct) - logit(wrong) at the last position. */
export function logitDiff(correct: TokenChoice, wrong: TokenChoice): Metric {
  return {
    name: `logit(${show(correct)}) - logit(${show(wrong)})`,
    spec: { kind: "logitDiff", correct, wrong },
    higherIsClean: true,
    bind(model, prompts) {
      const a = tokenFor(model, correct, prompts, "correct");
      const b = tokenFor(model, wrong, prompts, "wrong");
      return (i, logits) => logits[a[i]] - logits[b[i]];
    },
  };
}

/** log p(token) at the last position. */
export function logProb(token: TokenChoice): Metric {
  return {
    name: `log p(${show(token)})`,
    spec: { kind: "logProb", token },
    higherIsClean: true,
    bind(model, prompts) {
      const t = tokenFor(model, token, prompts, "token");
      return (i, logits) => logSoftmaxAt(logits, t[i]);
    },
  };
}

/** p(token) at the last position. */
export function prob(token: TokenChoice): Metric {
  return {
    name: `p(${show(token)})`,
    spec: { kind: "prob", token },
    higherIsClean: true,
    bind(model, prompts) {
      const t = tokenFor(model, token, prompts, "token");
      return (i, logits) => Math.exp(logSoftmaxAt(logits, t[i]));
    },
  };
}

/** KL(clean || run) of the last position's next-token distributions (0 on the clean run). */
export function klToClean(): Metric {
  return {
    name: "KL(clean || patched)",
    spec: { kind: "klToClean" },
    higherIsClean: false,
    bind() {
      // The clean row is the same for every intervention on a prompt: its log-softmax is computed once.
      const cleanLog = new WeakMap<Float32Array, Float64Array>();
      return (_i, logits, clean) => {
        let p = cleanLog.get(clean);
        if (!p) cleanLog.set(clean, (p = logSoftmax(clean)));
        const q = logSoftmax(logits);
        let kl = 0;
        for (let v = 0; v < p.length; v++) if (p[v] > -60) kl += Math.exp(p[v]) * (p[v] - q[v]);
        return kl;
      };
    },
  };
}

/** A metric from a function of the last position's logits and the prompt's index. */
export function custom(name: string, fn: (logits: Float32Array, index: number) => number): Metric {
  return { name, spec: null, higherIsClean: true, bind: () => (i, logits) => fn(logits, i) };
}

/** The metric a spec describes (specs travel as JSON: in views and in inserted code). */
export function fromSpec(spec: MetricSpec): Metric {
  switch (spec?.kind) {
    case "logitDiff":
      return logitDiff(spec.correct, spec.wrong);
    case "logProb":
      return logProb(spec.token);
    case "prob":
      return prob(spec.token);
    case "klToClean":
      return klToClean();
    default:
      throw new BadArgumentError(`Unknown metric spec ${JSON.stringify(spec)}: expected kind logitDiff, logProb, prob or klToClean.`);
  }
}

/**
 * The patching normalization of the IOI papers: 0 is the corrupted run, 1 the clean run. NaN when the
 * two runs score the same (nothing to recover).
 */
export function normalize(value: number, clean: number, corrupt: number): number {
  const span = clean - corrupt;
  return span === 0 ? NaN : (value - corrupt) / span;
}

/** The mean of a metric over a dataset's last-position logits. */
export function meanMetric(bound: BoundMetric, logits: readonly Float32Array[], clean: readonly Float32Array[]): number {
  let s = 0;
  logits.forEach((l, i) => (s += bound(i, l, clean[i])));
  return s / logits.length;
}
