/**
 * Direct logit attribution without gradients: the logit (or logit difference) at one position split
 * into what each component wrote into the residual stream, read through the unembedding with the
 * final norm's scale frozen at that position (TransformerLens: apply_ln_to_stack, then
 * residual_stack_to_logit_diff). Components: the embeddings, every head (z @ W_O), each layer's
 * attention bias b_O, every MLP, and the final norm's and the unembedding's biases. They sum to the
 * value the model computes.
 */
import { BadArgumentError, Tensor, type Model } from "../engine";
import { headName, mlpName, parseComponent } from "../protocol";
import { checkPos, onePrompt } from "./attribution-input";
import type { Prompt } from "./inputs";
import { KERNEL_SESSION } from "./result";
import { ComponentScores, HeadScores } from "./scores";
import { fmt, markdownTable } from "./text";
import { directionValue, finalNorm, normScale, residualDirection, resolveDirection, row, type Direction } from "./attribution-unembed";
import { dot } from "./vectors";

export interface LogitAttributionOptions {
  /** a token (" Mary": its continuation token), a pair [correct, wrong], or steer.metrics.logitDiff(...) */
  direction: Direction;
  /** the position whose logits are attributed (default the last; negative counts from the end) */
  pos?: number;
}

/** One score per component (the components view), with the heads as a [layer, head] heatmap. */
export class LogitAttribution extends ComponentScores {
  constructor(
    labels: string[],
    values: number[],
    /** the heads' scores as a [layer, head] heatmap */
    readonly heads: HeadScores,
    /** each layer's MLP score */
    readonly mlps: number[],
    readonly info: {
      /** what is attributed, e.g. `logit(" Mary") - logit(" John")` */
      direction: string;
      pos: number;
      tokens: string[];
      /** the value the model computed (from its logits) */
      model: number;
    },
  ) {
    super(labels, values, { title: `Direct logit attribution of ${info.direction} at position ${info.pos} (${JSON.stringify(info.tokens[info.pos])})`, valueLabel: `direct effect on ${info.direction}` });
  }

  /** The sum over every component (equals `info.model` up to float rounding). */
  get total(): number {
    let s = 0;
    for (const v of this.values) s += v;
    return s;
  }

  override markdown(): string {
    const nonHead = this.labels.map((label, i) => ({ label, value: this.values[i] })).filter((c) => parseComponent(c.label)?.kind !== "head");
    return [
      `**${this.options.title}**`,
      "",
      `Sum of the components ${fmt(this.total)}; the model computes ${fmt(this.info.model)}.`,
      "",
      this.heads.markdown(),
      "",
      markdownTable(["component", this.options.valueLabel], nonHead.map(({ label, value }) => [label, fmt(value)])),
    ].join("\n");
  }

  override summary(): string {
    const t = this.top(1)[0];
    return `direct logit attribution of ${this.info.direction}: top ${t.label} ${fmt(t.value)}; sum ${fmt(this.total)}, model ${fmt(this.info.model)}`;
  }
}

/**
 * The direct effect of every component on `direction` (a logit or logit difference) at `pos`: one
 * run that caches the embeddings, each layer's hook_z and hook_mlp_out, and the final residual (for
 * the norm's scale).
 */
export async function directLogitAttribution(model: Model, input: Prompt, options: LogitAttributionOptions): Promise<LogitAttribution> {
  if (!options || typeof options !== "object") throw new BadArgumentError('directLogitAttribution needs options: { direction: " Mary" } or { direction: [" Mary", " John"] }.');
  const { nLayers, nHeads: H, dHead: Dh, dModel: D } = model.config;
  const prompt = onePrompt(model, input, "directLogitAttribution");
  const dir = resolveDirection(model, options.direction, prompt);
  const pos = checkPos(options.pos, prompt.tokens.length);
  const names = new Set(model.hookNames().map((h) => h.name));
  const embeds = ["hook_embed", "hook_pos_embed"].filter((n) => names.has(n));
  const hooks = [...embeds, `blocks.${nLayers - 1}.hook_resid_post`];
  for (let l = 0; l < nLayers; l++) hooks.push(`blocks.${l}.attn.hook_z`, `blocks.${l}.hook_mlp_out`);
  const { logits, cache } = await model.runWithCache(prompt.tokens, { names: hooks });

  const norm = finalNorm(model);
  const scale = normScale(norm, row(cache.get(`blocks.${nLayers - 1}.hook_resid_post`), pos));
  const { g, normBias, unembedBias } = residualDirection(model, norm, dir, scale);
  const weights = new Set(model.weightNames());

  const labels: string[] = [];
  const values: number[] = [];
  const push = (label: string, v: number) => (labels.push(label), values.push(v));
  for (const e of embeds) push(e === "hook_embed" ? "embed" : "pos_embed", dot(row(cache.get(e), pos), g));
  const headValues = new Float32Array(nLayers * H);
  const mlps: number[] = [];
  for (let l = 0; l < nLayers; l++) {
    const z = cache.get(`blocks.${l}.attn.hook_z`).data;
    const WO = model.weight(`blocks.${l}.attn.W_O`).data;
    for (let h = 0; h < H; h++) {
      // z · (W_O g): one d_head-sized dot product per head instead of a d_model-sized result
      let v = 0;
      for (let j = 0; j < Dh; j++) v += z[(pos * H + h) * Dh + j] * dot(WO.subarray((h * Dh + j) * D, (h * Dh + j + 1) * D), g);
      headValues[l * H + h] = v;
      push(headName(l, h), v);
    }
    if (weights.has(`blocks.${l}.attn.b_O`)) push(`a${l}.b_O`, dot(model.weight(`blocks.${l}.attn.b_O`).data, g));
    const m = dot(row(cache.get(`blocks.${l}.hook_mlp_out`), pos), g);
    mlps.push(m);
    push(mlpName(l), m);
  }
  if (norm.b) push("ln_final.b", normBias);
  if (weights.has("b_U")) push("b_U", unembedBias);

  const tokens = model.toStr(prompt.tokens);
  const heads = new HeadScores(new Tensor([nLayers, H], headValues, ["layer", "head"]), {
    title: `Direct logit attribution per head: ${dir.name} at position ${pos}`,
    valueLabel: `direct effect on ${dir.name}`,
    session: KERNEL_SESSION,
  });
  return new LogitAttribution(labels, values, heads, mlps, { direction: dir.name, pos, tokens, model: directionValue(dir, row(logits, pos)) });
}
