/**
 * The logit lens (nostalgebraist 2020): the residual stream after the embeddings and after every
 * block, read as if it were the last one: the final norm (with each position's own scale) and the
 * unembedding, then the top tokens. At the last block it is the model's own prediction.
 */
import { BadArgumentError, type Model } from "../engine";
import { encodeTensor, VIEW_VALUE_CAP, type LogitLensView, type TokenProb } from "../protocol";
import { onePrompt } from "./attribution-input";
import { applyNorm, finalNorm, resolveDirection, row, unembed, type FinalNorm } from "./attribution-unembed";
import type { Prompt } from "./inputs";
import { logSoftmax, type TokenSpec } from "./metrics";
import { topK } from "./tokens";
import { LensResult } from "./result";
import { fmt, markdownTable } from "./text";

export interface LogitLensOptions {
  /** top tokens kept per layer and position (default 5) */
  k?: number;
  /** a token whose probability is tracked at every layer and position */
  target?: TokenSpec;
}

export class LogitLens extends LensResult<"logitLens"> {
  readonly view = "logitLens" as const;

  constructor(
    /** the input's token strings */
    readonly tokens: string[],
    /** row labels: "embed", then "resid_post 0" ... "resid_post {L-1}" (the last row is the model's output) */
    readonly layers: string[],
    /** top[row][pos], most probable first */
    readonly top: TokenProb[][][],
    private readonly resid: Float32Array[][],
    private readonly lens: { norm: FinalNorm; logitsOf: (xn: Float32Array) => Float32Array },
    readonly target?: { token: string; id: number; probs: Float32Array },
  ) {
    super();
  }

  /** The lens's logits at a row (0 = embed, l + 1 = after block l) and position. */
  logits(row: number, pos: number): Float32Array {
    const r = this.resid[row]?.[pos];
    if (!r) throw new BadArgumentError(`row ${row}, pos ${pos} is out of range: rows 0..${this.layers.length - 1} (${this.layers[0]} .. ${this.layers[this.layers.length - 1]}), positions 0..${this.tokens.length - 1}.`);
    return this.lens.logitsOf(applyNorm(this.lens.norm, r));
  }

  /** The target's probability at a row and position (when a target was named). */
  targetProb(row: number, pos: number): number {
    if (!this.target) throw new BadArgumentError("No target was named: pass { target: \" Mary\" } to logitLens.");
    return this.target.probs[row * this.tokens.length + pos];
  }

  payload(): LogitLensView {
    const keep = this.keptPositions();
    return {
      title: `Logit lens${this.target ? `, p(${JSON.stringify(this.target.token)})` : ""}`,
      tokens: keep.map((p) => this.tokens[p]),
      layers: [...this.layers],
      top: this.top.map((r) => keep.map((p) => r[p])),
      ...(this.target
        ? { target: { token: this.target.token, probs: encodeTensor([this.layers.length, keep.length], Float32Array.from(this.layers.flatMap((_, l) => keep.map((p) => this.target!.probs[l * this.tokens.length + p])))) } }
        : {}),
      ...(keep.length < this.tokens.length ? { reduced: `only the last ${keep.length} of ${this.tokens.length} positions (the view's size limit)` } : {}),
    };
  }

  markdown(): string {
    const P = this.tokens.length;
    const shown = Array.from({ length: Math.min(P, 12) }, (_, i) => P - Math.min(P, 12) + i);
    const header = ["layer", ...shown.map((p) => `${p} ${JSON.stringify(this.tokens[p])}`)];
    const rows = this.layers.map((label, l) => [label, ...shown.map((p) => {
      const t = this.top[l][p][0];
      return `${JSON.stringify(t.token)} ${fmt(t.prob)}${this.target ? ` (target ${fmt(this.targetProb(l, p))})` : ""}`;
    })]);
    return [`**Logit lens**: top token and its probability per layer${P > shown.length ? ` (last ${shown.length} of ${P} positions)` : ""}`, "", markdownTable(header, rows)].join("\n");
  }

  summary(): string {
    const last = this.top[this.layers.length - 1][this.tokens.length - 1][0];
    return `logit lens ${this.layers.length} layers x ${this.tokens.length} positions, output top ${JSON.stringify(last.token)} ${fmt(last.prob)}`;
  }

  /** The last positions whose top tokens (3 values each) fit under VIEW_VALUE_CAP. */
  private keptPositions(): number[] {
    const P = this.tokens.length;
    const perPos = this.layers.length * ((this.top[0]?.[0]?.length ?? 0) * 3 + (this.target ? 1 : 0));
    const n = Math.max(1, Math.min(P, Math.floor(VIEW_VALUE_CAP / Math.max(1, perPos))));
    return Array.from({ length: n }, (_, i) => P - n + i);
  }
}

export async function logitLens(model: Model, input: Prompt, options: LogitLensOptions = {}): Promise<LogitLens> {
  const k = options.k ?? 5;
  const V = model.config.nVocab;
  if (!Number.isInteger(k) || k < 1 || k > V) throw new BadArgumentError(`k must be an integer from 1 to the vocabulary size ${V}, got ${k}.`);
  const prompt = onePrompt(model, input, "logitLens");
  const { nLayers } = model.config;
  const names = ["blocks.0.hook_resid_pre", ...Array.from({ length: nLayers }, (_, l) => `blocks.${l}.hook_resid_post`)];
  const { cache } = await model.runWithCache(prompt.tokens, { names, logits: "last" });
  const targetId = options.target === undefined ? undefined : resolveDirection(model, options.target, prompt).tokens[0];

  const norm = finalNorm(model);
  const WU = model.weight("W_U");
  const bU = model.weightNames().includes("b_U") ? model.weight("b_U").data : undefined;
  const logitsOf = (xn: Float32Array) => unembed(xn, WU, bU);
  const pieces = new Map<number, string>();
  const vocab = (id: number) => {
    if (!pieces.has(id)) pieces.set(id, model.toStr([id])[0]);
    return pieces.get(id)!;
  };

  const P = prompt.tokens.length;
  const resid = names.map((n) => Array.from({ length: P }, (_, p) => row(cache.get(n), p).slice()));
  const probs = targetId === undefined ? undefined : new Float32Array(names.length * P);
  const top = resid.map((r, l) =>
    r.map((x, p) => {
      const lp = logSoftmax(logitsOf(applyNorm(norm, x)));
      if (probs) probs[l * P + p] = Math.exp(lp[targetId!]);
      return topK(lp, k).map((id) => ({ token: vocab(id), id, prob: Math.exp(lp[id]) }));
    }),
  );
  const layers = ["embed", ...Array.from({ length: nLayers }, (_, l) => `resid_post ${l}`)];
  const target = targetId === undefined ? undefined : { token: vocab(targetId), id: targetId, probs: probs! };
  return new LogitLens(model.toStr(prompt.tokens), layers, top, resid, { norm, logitsOf }, target);
}
