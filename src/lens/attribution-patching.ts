/**
 * Attribution patching (Nanda 2023; Syed et al. 2023): a first-order estimate of every activation-
 * patching score from gradients. Patching an activation a from the clean run into the corrupted run
 * changes the metric by about (a_clean - a_corrupt) . dmetric/da at the corrupted run, summed over the
 * cell's elements (a head's d_head slice at every position, or one (layer, position) row). The passes and
 * the three methods (gradient, relevance, EAP-IG) are in ./attribution-gradients.ts. The scale is
 * patching's (denoising: 0 = corrupt, 1 = clean), so each result compares directly with its steer.patch
 * sweep and re-runs a clicked cell exactly.
 */
import { BadArgumentError, Tensor, type Model } from "../engine";
import { attributionPasses, methodTitle, type AttributionPatchingOptions } from "./attribution-gradients";
import { normalize } from "./metrics";
import { rerun, type ResidualPoint, type SweepSpec } from "./patching";
import { KERNEL_SESSION } from "./result";
import { HeadScores, PositionScores, type Rerunner } from "./scores";

export type { AttributionMethod, AttributionPatchingOptions } from "./attribution-gradients";

export interface AttributionResidualOptions extends AttributionPatchingOptions {
  /** which residual stream point (default "resid_pre") */
  at?: ResidualPoint;
}

export interface AttributionHeadOptions extends AttributionPatchingOptions {
  /** "all" (default): each head over every position -> [layer, head]; "each": per position -> [layer, head, pos] */
  positions?: "all" | "each";
}

/** How a layer's hook tensor folds into cells, for a prompt of T tokens: `cellOf(j)` is element j's cell. */
type CellLayout = (T: number) => { cells: number; cellOf: (j: number) => number };

/**
 * Sums (clean - corrupt) . gradient of each layer's hook into cells. `byPosition`: the cells depend on
 * the position, so every prompt needs one length. Returns [layer x cells] on patching's normalized scale.
 */
async function estimate(model: Model, options: AttributionPatchingOptions, hooks: readonly string[], byPosition: boolean, layout: CellLayout) {
  let perLayer = 0;
  let cellOf = (j: number) => j;
  let sums = new Float64Array(0);
  const passes = await attributionPasses(model, options, hooks, hooks, (p) => {
    if (p.index === 0) {
      ({ cells: perLayer, cellOf } = layout(p.clean(hooks[0]).shape[0]));
      sums = new Float64Array(hooks.length * perLayer);
    }
    hooks.forEach((name, l) => {
      const c = p.clean(name).data;
      const k = p.corrupt(name).data;
      const g = p.gradient(name);
      for (let j = 0; j < c.length; j++) sums[l * perLayer + cellOf(j)] += (c[j] - k[j]) * g[j];
    });
  }, byPosition);
  const n = passes.clean.length;
  const values = Float32Array.from(sums, (s) => normalize(passes.corruptValue + s / n, passes.cleanValue, passes.corruptValue));
  return { values, passes };
}

/** A click patches the cell exactly (the sweep's own spec), so an estimate can be checked where it matters. */
function exactRerunner(model: Model, spec: SweepSpec, what: string): Rerunner {
  return {
    modes: ["patch", "zero"],
    code: `// patches the clicked ${what} exactly (assumes \`model\` is the model it ran on)\nawait steer.patch.rerun(model, ${JSON.stringify(spec)}, $TARGET, $MODE);`,
    run: (target, mode) => rerun(model, spec, target, mode),
  };
}

const specOptions = (options: AttributionPatchingOptions, passes: { metric: { spec: SweepSpec["options"]["metric"] } }): SweepSpec["options"] => ({
  clean: options.clean,
  corrupt: options.corrupt,
  metric: passes.metric.spec,
  mode: "patch",
});

/** Every head's estimate (hook_z) -> [layer, head], or [layer, head, pos] with positions "each". */
export async function heads(model: Model, options: AttributionHeadOptions): Promise<HeadScores> {
  const { nLayers: L, nHeads: H, dHead: Dh } = model.config;
  const by = options?.positions ?? "all";
  if (by !== "all" && by !== "each") throw new BadArgumentError(`positions must be "all" or "each", got ${JSON.stringify(by)}.`);
  const hooks = Array.from({ length: L }, (_, l) => `blocks.${l}.attn.hook_z`);
  // [pos, head, d_head]: a head is a d_head slice of each position's row; "each" keeps the positions apart ([head, pos] cells)
  const head = (j: number) => Math.floor(j / Dh) % H;
  const { values, passes } = await estimate(model, options, hooks, by === "each", (T) =>
    by === "each" ? { cells: H * T, cellOf: (j) => head(j) * T + Math.floor(j / (H * Dh)) } : { cells: H, cellOf: head });
  const T = passes.clean[0].tokens.length;
  const spec: SweepSpec = { sweep: "heads", component: "z", positions: by, options: specOptions(options, passes) };
  return new HeadScores(by === "each" ? new Tensor([L, H, T], values, ["layer", "head", "pos"]) : new Tensor([L, H], values, ["layer", "head"]), {
    title: `${methodTitle(passes.method, passes.steps)}: z${by === "each" ? " by position" : ""}`,
    valueLabel: "estimated patched metric, normalized (0 = corrupt, 1 = clean)",
    metric: passes.info,
    ...(by === "each" ? { tokens: model.toStr(passes.clean[0].tokens) } : {}),
    session: KERNEL_SESSION,
    rerunner: exactRerunner(model, spec, "head"),
  });
}

/** The estimate at each (layer, position) of one [pos, d_model] hook per layer -> [layer, pos]. */
async function positions(model: Model, options: AttributionPatchingOptions, suffix: string, component: string, sweep: "residual" | "attnOut" | "mlpOut"): Promise<PositionScores> {
  const { nLayers: L, dModel: D } = model.config;
  const hooks = Array.from({ length: L }, (_, l) => `blocks.${l}.${suffix}`);
  const { values, passes } = await estimate(model, options, hooks, true, (T) => ({ cells: T, cellOf: (j) => Math.floor(j / D) }));
  const spec: SweepSpec = { sweep, at: component, options: specOptions(options, passes) };
  return new PositionScores(new Tensor([L, passes.clean[0].tokens.length], values, ["layer", "pos"]), {
    title: `${methodTitle(passes.method, passes.steps)}: ${component}`,
    valueLabel: "estimated patched metric, normalized (0 = corrupt, 1 = clean)",
    metric: passes.info,
    tokens: model.toStr(passes.clean[0].tokens),
    component,
    session: KERNEL_SESSION,
    rerunner: exactRerunner(model, spec, "cell"),
  });
}

/** The residual stream's estimate at each (layer, position) -> [layer, pos], as steer.patch.residual. */
export async function residual(model: Model, options: AttributionResidualOptions): Promise<PositionScores> {
  const at = options?.at ?? "resid_pre";
  if (!["resid_pre", "resid_mid", "resid_post"].includes(at)) throw new BadArgumentError(`at must be "resid_pre", "resid_mid" or "resid_post", got ${JSON.stringify(at)}.`);
  return positions(model, options, `hook_${at}`, at, "residual");
}

/** The attention output's estimate at each (layer, position) -> [layer, pos], as steer.patch.attnOut. */
export function attnOut(model: Model, options: AttributionPatchingOptions): Promise<PositionScores> {
  return positions(model, options, "hook_attn_out", "attn_out", "attnOut");
}

/** The MLP output's estimate at each (layer, position) -> [layer, pos], as steer.patch.mlpOut. */
export function mlpOut(model: Model, options: AttributionPatchingOptions): Promise<PositionScores> {
  return positions(model, options, "hook_mlp_out", "mlp_out", "mlpOut");
}
