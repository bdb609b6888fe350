/**
 * Activation patching sweeps, as TransformerLens's patching.py and beyond: the residual stream, the
 * attention and MLP outputs per (layer, position), and every head (by z, q, k, v or pattern, over all
 * positions or each one), with clean -> corrupted patching or zero, mean and resample ablation.
 * Every sweep runs through runBatch (head sweeps of z on llama and qwen2: on graphs started at the
 * patched layer, see Experiment.evaluate); each result can re-run any one of its cells (click-to-patch).
 */
import { BadArgumentError, checkIndex, Tensor, zero as zeroHook, type Hooks, type Model } from "../engine";
import type { RerunMode, RerunTarget } from "../protocol";
import { Experiment, type ExperimentOptions, type Intervention, type Mode } from "./experiment";
import { fromSpec, type MetricSpec } from "./metrics";
import { KERNEL_SESSION } from "./result";
import { HeadScores, PositionScores, type Rerunner, type RerunOutcome } from "./scores";

export type ResidualPoint = "resid_pre" | "resid_mid" | "resid_post";
export type HeadComponent = "z" | "q" | "k" | "v" | "pattern";

export interface ResidualOptions extends ExperimentOptions {
  /** which residual stream point (default "resid_pre") */
  at?: ResidualPoint;
}

export interface HeadOptions extends ExperimentOptions {
  /** "all": each head at every position at once -> [layer, head]; "each": per position -> [layer, head, pos] */
  positions?: "all" | "each";
  /** which activation of the head (default "z"); k and v are per KV head with grouped-query attention */
  component?: HeadComponent;
}

/** What re-creates a sweep: JSON in views and in inserted code (`steer.patch.rerun(model, spec, target)`). */
export type SweepSpec =
  | { sweep: "residual" | "attnOut" | "mlpOut"; at: string; options: SpecOptions }
  | { sweep: "heads"; component: HeadComponent; positions: "all" | "each"; options: SpecOptions };

interface SpecOptions {
  clean: ExperimentOptions["clean"];
  corrupt?: ExperimentOptions["corrupt"];
  metric: MetricSpec;
  mode: Mode;
}

export { path } from "./paths";

const HEAD_HOOK: Record<HeadComponent, string> = { z: "attn.hook_z", q: "attn.hook_q", k: "attn.hook_k", v: "attn.hook_v", pattern: "attn.hook_pattern" };
const RESID_HOOK: Record<ResidualPoint, string> = { resid_pre: "hook_resid_pre", resid_mid: "hook_resid_mid", resid_post: "hook_resid_post" };

const layerHooks = (model: Model, suffix: string) => Array.from({ length: model.config.nLayers }, (_, l) => `blocks.${l}.${suffix}`);

/** Patches `suffix` (e.g. "hook_resid_pre") at each (layer, position): -> [layer, pos]. */
async function positionSweep(model: Model, options: ExperimentOptions, suffix: string, component: string, spec: "residual" | "attnOut" | "mlpOut"): Promise<PositionScores> {
  const hooks = layerHooks(model, suffix);
  const ex = await Experiment.create(model, options, hooks);
  const len = ex.baseTokens(0).length;
  for (let i = 1; i < ex.size; i++) {
    if (ex.baseTokens(i).length !== len) throw new BadArgumentError(`A by-position sweep over a dataset needs prompts of one token length: prompt 0 has ${len} tokens, prompt ${i} has ${ex.baseTokens(i).length}.`);
  }
  const L = model.config.nLayers;
  const plan = cellPlan(ex, hooks, len);
  const targets: Intervention[] = [];
  for (let l = 0; l < L; l++) for (let p = 0; p < len; p++) targets.push(plan({ cell: { layer: l, pos: p } }).iv);
  const make = (v: Float64Array) =>
    new PositionScores(new Tensor([L, len], Float32Array.from(v, (x) => ex.score(x)), ["layer", "pos"]), {
      title: `${ex.mode === "patch" ? "Activation patching" : `${ex.mode} ablation`}: ${component}`,
      valueLabel: ex.valueLabel,
      metric: ex.metricInfo,
      tokens: model.toStr(ex.clean[0].tokens),
      component,
      stats: ex.stats,
      session: KERNEL_SESSION,
      rerunner: rerunner(ex, specOf(ex, options, { sweep: spec, at: component }), plan),
    });
  const values = await ex.evaluate(targets, make, (k) => k % len);
  return make(values);
}

/** Residual-stream patching at each (layer, position) -> [layer, pos] (TransformerLens get_act_patch_resid_pre). */
export function residual(model: Model, options: ResidualOptions): Promise<PositionScores> {
  const at = options.at ?? "resid_pre";
  if (!(at in RESID_HOOK)) throw new BadArgumentError(`at must be "resid_pre", "resid_mid" or "resid_post", got ${JSON.stringify(at)}.`);
  return positionSweep(model, options, RESID_HOOK[at], at, "residual");
}

/** Attention-output patching at each (layer, position) -> [layer, pos]. */
export function attnOut(model: Model, options: ExperimentOptions): Promise<PositionScores> {
  return positionSweep(model, options, "hook_attn_out", "attn_out", "attnOut");
}

/** MLP-output patching at each (layer, position) -> [layer, pos]. */
export function mlpOut(model: Model, options: ExperimentOptions): Promise<PositionScores> {
  return positionSweep(model, options, "hook_mlp_out", "mlp_out", "mlpOut");
}

/** Patches every head -> [layer, head], or [layer, head, pos] with positions "each". */
export async function heads(model: Model, options: HeadOptions): Promise<HeadScores> {
  const component = options.component ?? "z";
  if (!(component in HEAD_HOOK)) throw new BadArgumentError(`component must be one of ${Object.keys(HEAD_HOOK).join(", ")}, got ${JSON.stringify(component)}.`);
  const by = options.positions ?? "all";
  if (by !== "all" && by !== "each") throw new BadArgumentError(`positions must be "all" or "each", got ${JSON.stringify(by)}.`);
  const hooks = layerHooks(model, HEAD_HOOK[component]);
  const ex = await Experiment.create(model, options, hooks);
  const { nLayers: L } = model.config;
  // k and v exist per KV head under grouped-query attention.
  const H = component === "k" || component === "v" ? model.config.nKvHeads : model.config.nHeads;
  const len = ex.baseTokens(0).length;
  if (by === "each") {
    for (let i = 1; i < ex.size; i++) if (ex.baseTokens(i).length !== len) throw new BadArgumentError(`positions "each" over a dataset needs prompts of one token length: prompt 0 has ${len} tokens, prompt ${i} has ${ex.baseTokens(i).length}.`);
  }
  const plan = headPlan(ex, hooks, H, len);
  const targets: Intervention[] = [];
  for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
    if (by === "all") targets.push(plan({ heads: [{ layer: l, head: h }] }).iv);
    else for (let p = 0; p < len; p++) targets.push(plan({ heads: [{ layer: l, head: h }], pos: p }).iv);
  }
  const shape = by === "all" ? [L, H] : [L, H, len];
  const dims = by === "all" ? ["layer", "head"] : ["layer", "head", "pos"];
  const kvNote = H !== model.config.nHeads ? " (per KV head)" : "";
  const make = (v: Float64Array) =>
    new HeadScores(new Tensor(shape, Float32Array.from(v, (x) => ex.score(x)), dims), {
      title: `${ex.mode === "patch" ? "Head patching" : `Head ${ex.mode} ablation`}: ${component}${kvNote}`,
      valueLabel: ex.valueLabel,
      metric: ex.metricInfo,
      ...(by === "each" ? { tokens: model.toStr(ex.clean[0].tokens), stats: ex.stats } : {}),
      session: KERNEL_SESSION,
      rerunner: rerunner(ex, specOf(ex, options, { sweep: "heads", component, positions: by }), plan),
    });
  // z over all positions: each variant is one z value known up front, so on llama and qwen2 the sweep
  // runs on graphs started at each head's layer (Experiment.evaluate; gpt2 stays on llama.cpp, whose
  // GELU reads a float16 table the graph does not).
  const values = by === "each" ? await ex.evaluate(targets, make, (k) => k % len) : await ex.evaluate(targets, make, undefined, component === "z");
  return make(values);
}

function groupHeads(set: readonly { layer: number; head: number }[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const { layer, head } of set) m.set(layer, [...(m.get(layer) ?? []), head]);
  return m;
}

/** The JSON spec of a sweep, or undefined when its metric is a function (not re-creatable from text). */
function specOf(
  ex: Experiment,
  options: ExperimentOptions,
  head: { sweep: "residual" | "attnOut" | "mlpOut"; at: string } | { sweep: "heads"; component: HeadComponent; positions: "all" | "each" },
): SweepSpec | undefined {
  if (!ex.metric.spec) return undefined;
  const opts: SpecOptions = { clean: options.clean, ...(options.corrupt !== undefined ? { corrupt: options.corrupt } : {}), metric: ex.metric.spec, mode: ex.mode };
  return { ...head, options: opts } as SweepSpec;
}

/** A target's intervention (the experiment's own) and its zero-ablation. */
type TargetPlan = (t: RerunTarget) => { iv: Intervention; zeroHooks: Hooks };

/** Heads of `hooks` (one per layer), patched together, optionally at one position. */
function headPlan(ex: Experiment, hooks: readonly string[], nHeads: number, len: number): TargetPlan {
  return (t) => {
    const set = t.heads ?? [];
    if (!set.length) throw new BadArgumentError("The target needs heads: [{ layer, head }, ...].");
    if (t.pos !== undefined) checkIndex("position", t.pos, len, `the input has ${len} tokens`);
    for (const { layer, head } of set) {
      checkIndex("layer", layer, hooks.length, `this model has ${hooks.length} layers`);
      checkIndex("head", head, nHeads, `this model has ${nHeads} heads per layer`);
    }
    const sel = (head: number) => (t.pos === undefined ? { heads: [head] } : { heads: [head], positions: [t.pos] });
    const byLayer = [...groupHeads(set)];
    return {
      iv: (i) => Object.fromEntries(byLayer.map(([l, hs]) => [hooks[l], hs.map((h) => ex.intervene(hooks[l], i, sel(h)))])),
      zeroHooks: Object.fromEntries(byLayer.map(([l, hs]) => [hooks[l], hs.map((h) => zeroHook(sel(h)))])),
    };
  };
}

/** One (layer, position) of `hooks` (one per layer). */
function cellPlan(ex: Experiment, hooks: readonly string[], len: number): TargetPlan {
  return (t) => {
    if (!t.cell) throw new BadArgumentError("This sweep is over (layer, position): the target needs cell: { layer, pos }.");
    const { layer, pos } = t.cell;
    checkIndex("layer", layer, hooks.length, `this model has ${hooks.length} layers`);
    checkIndex("position", pos, len, `the input has ${len} tokens`);
    return { iv: (i) => ({ [hooks[layer]]: ex.intervene(hooks[layer], i, { positions: [pos] }) }), zeroHooks: { [hooks[layer]]: zeroHook({ positions: [pos] }) } };
  };
}

/**
 * Click-to-patch: "patch" applies the sweep's own intervention to the target on the sweep's base
 * input; "zero" zero-ablates the target on the clean input.
 */
function rerunner(ex: Experiment, spec: SweepSpec | undefined, plan: TargetPlan): Rerunner {
  const modes: RerunMode[] = ex.mode === "zero" ? ["patch"] : ["patch", "zero"];
  return {
    modes,
    ...(spec ? { code: `// re-runs one cell of the sweep (assumes \`model\` is the model it ran on)\nawait steer.patch.rerun(model, ${JSON.stringify(spec)}, $TARGET, $MODE);` } : {}),
    async run(target, mode): Promise<RerunOutcome> {
      const p = plan(target);
      const onClean = mode === "zero";
      const m = await ex.measure(onClean ? () => p.zeroHooks : p.iv, onClean);
      return {
        metricBefore: m.before,
        metricAfter: m.after,
        ...(ex.normalized ? { normalizedAfter: ex.score(m.after) } : {}),
        topBefore: m.topBefore,
        topAfter: m.topAfter,
      };
    },
  };
}

/** Re-runs one cell of a sweep from its JSON spec (what "Insert as code" writes), without the sweep. */
export async function rerun(model: Model, spec: SweepSpec, target: RerunTarget, mode: RerunMode = "patch"): Promise<RerunOutcome> {
  if (!spec || typeof spec !== "object" || !spec.options) throw new BadArgumentError("rerun needs the spec a sweep's view carries ({ sweep, options: { clean, corrupt, metric, mode } }).");
  const options: ExperimentOptions = { ...spec.options, metric: fromSpec(spec.options.metric) };
  // Only the experiment's setup runs (clean and corrupted passes), not the sweep.
  switch (spec.sweep) {
    case "heads": {
      const hooks = layerHooks(model, HEAD_HOOK[spec.component]);
      const ex = await Experiment.create(model, options, hooks);
      const H = spec.component === "k" || spec.component === "v" ? model.config.nKvHeads : model.config.nHeads;
      return rerunner(ex, undefined, headPlan(ex, hooks, H, ex.baseTokens(0).length)).run(target, mode);
    }
    case "residual":
    case "attnOut":
    case "mlpOut": {
      const suffix = spec.sweep === "residual" ? RESID_HOOK[spec.at as ResidualPoint] : spec.sweep === "attnOut" ? "hook_attn_out" : "hook_mlp_out";
      if (!suffix) throw new BadArgumentError(`Unknown residual point ${JSON.stringify(spec.at)}.`);
      const hooks = layerHooks(model, suffix);
      const ex = await Experiment.create(model, options, hooks);
      return rerunner(ex, undefined, cellPlan(ex, hooks, ex.baseTokens(0).length)).run(target, mode);
    }
    default:
      throw new BadArgumentError(`Unknown sweep ${JSON.stringify((spec as { sweep?: unknown }).sweep)} in the spec.`);
  }
}
