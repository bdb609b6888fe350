/**
 * The residual stream at one position, as TransformerLens's accumulated_resid (the stream before each
 * block and after the last) and decompose_resid (what the embeddings and each attention layer and MLP
 * added). With a direction (a token's logit or a logit difference) each vector is read through the
 * unembedding with the final norm's scale frozen at that position, as apply_ln_to_stack does with the
 * final layer's cached scale; without one, each value is the vector's L2 norm.
 */
import { BadArgumentError, Tensor, type Model } from "../engine";
import { mlpName } from "../protocol";
import { checkPos, onePrompt } from "./attribution-input";
import { directionValue, finalNorm, normScale, residualDirection, resolveDirection, row, type Direction } from "./attribution-unembed";
import { dot, l2 } from "./vectors";
import type { Prompt } from "./inputs";
import { ComponentScores } from "./scores";
import { fmt } from "./text";

export interface ResidOptions {
  /** the position read (default the last; negative counts from the end) */
  pos?: number;
  /** the layers before this one are included (default all, and the final residual) */
  layer?: number;
  /** project onto a token's logit (" Mary") or a logit difference [correct, wrong] */
  direction?: Direction;
}

export interface AccumulatedResidOptions extends ResidOptions {
  /** also the stream between attention and MLP (resid_mid) of each layer */
  inclMid?: boolean;
}

export interface ResidInfo {
  pos: number;
  tokens: string[];
  /** the direction projected onto, when one was given */
  direction?: string;
  /** decomposeResid with a direction: the final norm's and unembedding's bias terms (sum of values + constant = the model's value) */
  constant?: number;
  /** the direction's value in the model's logits at `pos` */
  model?: number;
}

/** Residual-stream vectors with labels; values are their projections (or norms). */
export class ResidComponents extends ComponentScores {
  constructor(
    labels: string[],
    values: number[],
    /** [component, d_model], row-major */
    private readonly vectors: Float32Array,
    readonly info: ResidInfo,
    title: string,
  ) {
    super(labels, values, { title, valueLabel: info.direction ? `projection onto ${info.direction} (final norm frozen at pos ${info.pos})` : "L2 norm" });
  }

  /** The raw vectors: [component, d_model]. */
  tensor(): Tensor {
    const n = this.labels.length;
    return new Tensor([n, this.vectors.length / Math.max(1, n)], this.vectors.slice(), ["component", "d_model"]);
  }

  /** One component's vector [d_model]. */
  vector(label: string): Tensor {
    const i = this.labels.indexOf(label);
    if (i < 0) throw new BadArgumentError(`No component "${label}"; components: ${this.labels.join(", ")}.`);
    const D = this.vectors.length / this.labels.length;
    return new Tensor([D], this.vectors.slice(i * D, (i + 1) * D), ["d_model"]);
  }

  override markdown(): string {
    const extra = this.info.model === undefined ? "" : `\n\nThe model's ${this.info.direction}: ${fmt(this.info.model)}${this.info.constant !== undefined ? `; bias terms ${fmt(this.info.constant)}` : ""}.`;
    return super.markdown() + extra;
  }
}

function upToLayer(model: Model, layer: number | undefined): number {
  const n = model.config.nLayers;
  const l = layer ?? n;
  if (!Number.isInteger(l) || l < 0 || l > n) throw new BadArgumentError(`layer ${l} is out of range: the layers before it are included, so use 0..${n} (default ${n}: all, with the final residual).`);
  return l;
}

/** Reads `names` at `pos`, and the projection setup when a direction is given. */
async function readResid(model: Model, input: Prompt, options: ResidOptions, names: string[], what: string) {
  const prompt = onePrompt(model, input, what);
  const pos = checkPos(options.pos, prompt.tokens.length);
  const last = `blocks.${model.config.nLayers - 1}.hook_resid_post`;
  const dir = options.direction === undefined ? undefined : resolveDirection(model, options.direction, prompt);
  const { logits, cache } = await model.runWithCache(prompt.tokens, { names: [...new Set([...names, ...(dir ? [last] : [])])], logits: dir ? "all" : "last" });
  const vectors = names.map((n) => row(cache.get(n), pos).slice());
  const D = model.config.dModel;
  const flat = new Float32Array(names.length * D);
  vectors.forEach((v, i) => flat.set(v, i * D));
  const base = { pos, tokens: model.toStr(prompt.tokens) };
  if (!dir) return { vectors, flat, info: base as ResidInfo, project: undefined };
  const norm = finalNorm(model);
  const rd = residualDirection(model, norm, dir, normScale(norm, row(cache.get(last), pos)));
  return { vectors, flat, info: { ...base, direction: dir.name, model: directionValue(dir, row(logits, pos)) } as ResidInfo, project: rd };
}


/**
 * The residual stream before each block up to `layer` (and after the last block when all are
 * included): TransformerLens accumulated_resid. With a direction, each value is the logit the model
 * would output if the stream stopped there (final norm frozen), so the last one is the model's own.
 */
export async function accumulatedResid(model: Model, input: Prompt, options: AccumulatedResidOptions = {}): Promise<ResidComponents> {
  const upTo = upToLayer(model, options.layer);
  const labels: string[] = [];
  const names: string[] = [];
  for (let l = 0; l < upTo; l++) {
    labels.push(`resid_pre ${l}`);
    names.push(`blocks.${l}.hook_resid_pre`);
    if (options.inclMid) {
      labels.push(`resid_mid ${l}`);
      names.push(`blocks.${l}.hook_resid_mid`);
    }
  }
  const L = model.config.nLayers;
  if (upTo === L) {
    labels.push(`resid_post ${L - 1}`);
    names.push(`blocks.${L - 1}.hook_resid_post`);
  }
  const r = await readResid(model, input, options, names, "accumulatedResid");
  const p = r.project;
  const values = r.vectors.map((v) => (p ? dot(v, p.g) + p.normBias + p.unembedBias : l2(v)));
  return new ResidComponents(labels, values, r.flat, r.info, `Accumulated residual stream at position ${r.info.pos}${p ? `, as ${r.info.direction}` : ""}`);
}

/**
 * What each part of the model added to the residual stream at `pos`: the embeddings, then each
 * layer's attention output (a{L}) and MLP output (m{L}), for the layers before `layer` (default all):
 * TransformerLens decompose_resid. They sum to the residual stream there. With a direction, the
 * values plus `info.constant` (the biases of the final norm and unembedding) sum to the model's value.
 */
export async function decomposeResid(model: Model, input: Prompt, options: ResidOptions = {}): Promise<ResidComponents> {
  const upTo = upToLayer(model, options.layer);
  const hooks = new Set(model.hookNames().map((h) => h.name));
  const labels: string[] = [];
  const names: string[] = [];
  for (const [n, label] of [["hook_embed", "embed"], ["hook_pos_embed", "pos_embed"]]) {
    if (hooks.has(n)) {
      labels.push(label);
      names.push(n);
    }
  }
  for (let l = 0; l < upTo; l++) {
    labels.push(`a${l}`, mlpName(l));
    names.push(`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`);
  }
  const r = await readResid(model, input, options, names, "decomposeResid");
  const p = r.project;
  const values = r.vectors.map((v) => (p ? dot(v, p.g) : l2(v)));
  const info = p ? { ...r.info, constant: p.normBias + p.unembedBias } : r.info;
  return new ResidComponents(labels, values, r.flat, info, `Decomposed residual stream at position ${r.info.pos}${p ? `, onto ${r.info.direction}` : ""}`);
}
