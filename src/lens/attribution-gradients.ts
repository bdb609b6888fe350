/**
 * The passes every attribution-patching estimate shares: a clean forward pass (llama.cpp, all prompts
 * at once) for the activations patching would copy, and per prompt the gradient of the metric at the
 * corrupted run (denoising: 0 = corrupt, 1 = clean), by one of three methods:
 * - "gradient": the local gradient at the corrupted run (attribution patching, EAP);
 * - "eap-ig": the gradient averaged over `steps` inputs interpolated from the corrupted embeddings to the
 *   clean ones, at k = 0..steps-1 (resid_pre.0 = corrupt + (k/steps)(clean - corrupt)), as EAP-IG's
 *   get_scores_eap_ig does (k = 0 is the corrupted run itself);
 * - "relevance": the engine's rule "relevance" (RelP): the backward pass with each norm's denominator,
 *   the attention pattern and the activation ratios act(x)/x held constant, and the half rule for gated
 *   products.
 * The caller folds (clean - corrupt) . gradient into its own cells.
 */
import { BadArgumentError, Tensor, type GradientMetric, type Model } from "../engine";
import type { MetricInfo } from "../protocol";
import { tokenizePairs, type Prompts, type TokenizedPrompt } from "./inputs";
import { resolveToken, toMetric, type Metric, type MetricLike, type MetricSpec, type TokenChoice } from "./metrics";

export type AttributionMethod = "gradient" | "relevance" | "eap-ig";
export const ATTRIBUTION_METHODS: readonly AttributionMethod[] = ["gradient", "relevance", "eap-ig"];

export interface AttributionPatchingOptions {
  clean: Prompts;
  /** same token length as clean, prompt by prompt */
  corrupt: Prompts;
  /** steer.metrics.logitDiff or steer.metrics.logProb (the graph differentiates it natively) */
  metric: MetricLike;
  /** "gradient" (default), "relevance" (LRP rules) or "eap-ig" (integrated gradients over the input) */
  method?: AttributionMethod;
  /** interpolation steps of "eap-ig" (default 5, as EAP-IG) */
  steps?: number;
}

/** One prompt's tensors: the clean run's activations, the corrupted run's, and the metric's gradient there. */
export interface PromptPass {
  index: number;
  clean(name: string): Tensor;
  corrupt(name: string): Tensor;
  /** averaged over the interpolation steps for "eap-ig" */
  gradient(name: string): Float32Array;
}

export interface Passes {
  metric: Metric & { spec: MetricSpec };
  clean: TokenizedPrompt[];
  corrupt: TokenizedPrompt[];
  method: AttributionMethod;
  steps: number;
  /** the metric averaged over the prompts (clean: llama.cpp's pass; corrupt: the gradient graph's) */
  cleanValue: number;
  corruptValue: number;
  info: MetricInfo;
}

/** The metric of prompt `i` as the gradient graph computes it (at the last position). */
function gradientMetric(model: Model, spec: MetricSpec, prompts: readonly TokenizedPrompt[]): (i: number) => GradientMetric {
  const token = (c: TokenChoice, i: number) => resolveToken(model, typeof c === "string" || typeof c === "number" ? c : c[i], prompts[i]);
  const listed = (c: TokenChoice, what: string) => {
    if (Array.isArray(c) && c.length !== prompts.length) throw new BadArgumentError(`${what} lists ${c.length} tokens for ${prompts.length} prompts: give one per prompt, or a single token for all.`);
  };
  if (spec.kind === "logitDiff") {
    listed(spec.correct, "correct");
    listed(spec.wrong, "wrong");
    return (i) => ({ kind: "logitDiff", correct: token(spec.correct, i), wrong: token(spec.wrong, i) });
  }
  if (spec.kind === "logProb") {
    listed(spec.token, "token");
    return (i) => ({ kind: "logProb", token: token(spec.token, i) });
  }
  throw new BadArgumentError(`Attribution patching differentiates logitDiff and logProb metrics; ${spec.kind} is not one. Use steer.metrics.logitDiff(...) or steer.metrics.logProb(...), or exact patching (steer.patch.heads) for this metric.`);
}

/** Checks the options shared by every attribution method; the method and steps as given or defaulted. */
export function checkMethod(options: { method?: unknown; steps?: unknown }, methods: readonly string[] = ATTRIBUTION_METHODS): { method: string; steps: number } {
  const method = options.method ?? methods[0];
  if (typeof method !== "string" || !methods.includes(method)) throw new BadArgumentError(`method must be one of ${methods.map((m) => `"${m}"`).join(", ")}, got ${JSON.stringify(method)}.`);
  const steps = options.steps ?? 5;
  if (!Number.isInteger(steps) || (steps as number) < 1) throw new BadArgumentError(`steps must be a whole number >= 1 (interpolation steps of EAP-IG, default 5), got ${JSON.stringify(steps)}.`);
  return { method, steps: steps as number };
}

const RESID_0 = "blocks.0.hook_resid_pre";

/**
 * Runs the passes of one attribution: `valueNames` from the clean run and the corrupted run (what patching
 * would copy), `gradNames` the hooks whose gradients are needed. `visit` sees each prompt's tensors once.
 */
export async function attributionPasses(
  model: Model,
  options: AttributionPatchingOptions,
  valueNames: readonly string[],
  gradNames: readonly string[],
  visit: (pass: PromptPass) => void,
  /** by-position estimates: every prompt must have one token length */
  sameLength = false,
): Promise<Passes> {
  if (!options || options.corrupt === undefined) throw new BadArgumentError("Attribution patching compares two inputs: pass clean, corrupt (same token length) and metric.");
  const m = toMetric(options.metric);
  if (!m.spec) {
    throw new BadArgumentError(`Attribution patching needs a metric it can differentiate: steer.metrics.logitDiff(...) or steer.metrics.logProb(...), not a custom function ("${m.name}"). Exact patching (steer.patch.heads) takes any metric.`);
  }
  const metric = m as Metric & { spec: MetricSpec };
  const { method, steps } = checkMethod(options) as { method: AttributionMethod; steps: number };
  const { clean, corrupt } = tokenizePairs(model, options.clean, options.corrupt);
  const metricOf = gradientMetric(model, metric.spec, clean);
  const odd = clean.findIndex((p) => p.tokens.length !== clean[0].tokens.length);
  if (sameLength && odd >= 0) throw new BadArgumentError(`A by-position estimate over a dataset needs prompts of one token length: prompt 0 has ${clean[0].tokens.length} tokens, prompt ${odd} has ${clean[odd].tokens.length}.`);
  const ig = method === "eap-ig";
  // EAP-IG interpolates between the two runs' embeddings: both runs keep resid_pre.0.
  const cleanHooks = [...new Set([...valueNames, ...(ig ? [RESID_0] : [])])];
  const corruptHooks = [...new Set([...cleanHooks, ...gradNames])];
  const cleanRuns = await model.runBatch(clean.map((p) => ({ input: p.tokens, names: cleanHooks, logits: "last" as const })));
  const bound = metric.bind(model, clean);
  const V = model.config.nVocab;
  let cleanValue = 0;
  let corruptValue = 0;
  for (let i = 0; i < clean.length; i++) {
    const cleanLast = cleanRuns[i].logits.data;
    const rule = method === "relevance" ? "relevance" : "gradient";
    const k0 = await model.gradients(corrupt[i].tokens, { metric: metricOf(i), names: corruptHooks, rule });
    cleanValue += bound(i, cleanLast, cleanLast);
    corruptValue += bound(i, k0.logits.data.subarray(k0.logits.size - V), cleanLast);
    let gradient = (name: string) => k0.gradients.get(name)!.data;
    if (ig && steps > 1) {
      const sums = new Map(gradNames.map((n) => [n, Float32Array.from(k0.gradients.get(n)!.data)]));
      const from = k0.activations.get(RESID_0)!;
      const to = cleanRuns[i].cache.get(RESID_0);
      for (let k = 1; k < steps; k++) {
        const resid = new Tensor(from.shape, Float32Array.from(from.data, (v, j) => v + (k / steps) * (to.data[j] - v)), from.dims);
        const g = await model.gradients(corrupt[i].tokens, { metric: metricOf(i), names: gradNames, start: { layer: 0, resid } });
        for (const [n, s] of sums) {
          const d = g.gradients.get(n)!.data;
          for (let j = 0; j < s.length; j++) s[j] += d[j];
        }
      }
      for (const s of sums.values()) for (let j = 0; j < s.length; j++) s[j] /= steps;
      gradient = (name) => sums.get(name)!;
    }
    visit({ index: i, clean: (n) => cleanRuns[i].cache.get(n), corrupt: (n) => k0.activations.get(n)!, gradient });
  }
  cleanValue /= clean.length;
  corruptValue /= clean.length;
  return { metric, clean, corrupt, method, steps, cleanValue, corruptValue, info: { name: metric.name, clean: cleanValue, corrupt: corruptValue, normalized: true } };
}

/** A method's name in titles, e.g. "EAP-IG estimate (5 steps)". */
export function methodTitle(method: AttributionMethod, steps: number): string {
  return method === "gradient" ? "Attribution patching (gradient estimate)" : method === "relevance" ? "Relevance patching (LRP estimate)" : `EAP-IG estimate (${steps} steps)`;
}
