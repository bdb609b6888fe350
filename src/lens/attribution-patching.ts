/**
 * Attribution patching (Nanda 2023; Syed et al. 2023): a first-order estimate of every head's
 * activation-patching score from one gradient. Patching head h's output z from the clean run into
 * the corrupted run changes the metric by about (z_clean - z_corrupt) . dmetric/dz at the corrupted
 * run, summed over positions and d_head. One forward and backward pass per prompt replaces a
 * forward pass per head; the scale is patching's (denoising: 0 = corrupt, 1 = clean), so the
 * result compares directly with steer.patch.heads and re-runs a clicked head exactly.
 */
import { BadArgumentError, Tensor, type GradientMetric, type Model } from "../engine";
import { tokenizePairs, type Prompts, type TokenizedPrompt } from "./inputs";
import { normalize, resolveToken, toMetric, type MetricLike, type MetricSpec, type TokenChoice } from "./metrics";
import { rerun, type SweepSpec } from "./patching";
import { KERNEL_SESSION } from "./result";
import { HeadScores } from "./scores";

export interface AttributionPatchingOptions {
  clean: Prompts;
  /** same token length as clean, prompt by prompt */
  corrupt: Prompts;
  /** steer.metrics.logitDiff or steer.metrics.logProb (the graph differentiates it natively) */
  metric: MetricLike;
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

/** Every head's attribution-patching estimate (hook_z, all positions at once) -> [layer, head]. */
export async function heads(model: Model, options: AttributionPatchingOptions): Promise<HeadScores> {
  if (!options || options.corrupt === undefined) throw new BadArgumentError("Attribution patching compares two inputs: pass clean, corrupt (same token length) and metric.");
  const metric = toMetric(options.metric);
  if (!metric.spec) {
    throw new BadArgumentError(`Attribution patching needs a metric it can differentiate: steer.metrics.logitDiff(...) or steer.metrics.logProb(...), not a custom function ("${metric.name}"). Exact patching (steer.patch.heads) takes any metric.`);
  }
  const { clean, corrupt } = tokenizePairs(model, options.clean, options.corrupt);
  const metricOf = gradientMetric(model, metric.spec, clean);
  const { nLayers: L, nHeads: H } = model.config;
  const names = Array.from({ length: L }, (_, l) => `blocks.${l}.attn.hook_z`);
  // The clean run needs no gradient: llama.cpp's forward pass gives its activations, all prompts at once.
  const cleanRuns = await model.runBatch(clean.map((p) => ({ input: p.tokens, names, logits: "last" as const })));
  const bound = metric.bind(model, clean);
  const cleanLast = cleanRuns.map((r) => r.logits.data);
  const sums = new Float64Array(L * H);
  let cleanValue = 0;
  let corruptValue = 0;
  for (let i = 0; i < clean.length; i++) {
    const k = await model.gradients(corrupt[i].tokens, { metric: metricOf(i), names });
    const V = model.config.nVocab;
    cleanValue += bound(i, cleanLast[i], cleanLast[i]);
    corruptValue += bound(i, k.logits.data.subarray(k.logits.size - V), cleanLast[i]);
    names.forEach((name, l) => {
      const zc = cleanRuns[i].cache.get(name).data;
      const zk = k.activations.get(name)!.data;
      const g = k.gradients.get(name)!.data;
      // [pos, head, d_head]: a head is a d_head slice in every position's row
      const Dh = model.config.dHead;
      for (let j = 0; j < zc.length; j++) sums[l * H + (Math.floor(j / Dh) % H)] += (zc[j] - zk[j]) * g[j];
    });
  }
  const n = clean.length;
  cleanValue /= n;
  corruptValue /= n;
  const values = Float32Array.from(sums, (s) => normalize(corruptValue + s / n, cleanValue, corruptValue));
  const spec: SweepSpec = { sweep: "heads", component: "z", positions: "all", options: { clean: options.clean, corrupt: options.corrupt, metric: metric.spec, mode: "patch" } };
  return new HeadScores(new Tensor([L, H], values, ["layer", "head"]), {
    title: "Attribution patching (gradient estimate): z",
    valueLabel: "estimated patched metric, normalized (0 = corrupt, 1 = clean)",
    metric: { name: metric.name, clean: cleanValue, corrupt: corruptValue, normalized: true },
    session: KERNEL_SESSION,
    // A click patches the head exactly, so the estimate can be checked where it matters.
    rerunner: {
      modes: ["patch", "zero"],
      code: `// patches the clicked head exactly (assumes \`model\` is the model it ran on)\nawait steer.patch.rerun(model, ${JSON.stringify(spec)}, $TARGET, $MODE);`,
      run: (target, mode) => rerun(model, spec, target, mode),
    },
  });
}
