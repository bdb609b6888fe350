/**
 * Circuit discovery: the heads and MLPs that matter, by batched patching; the edges between them, by
 * path patching; pruned greedily in the spirit of ACDC (Conmy et al. 2023). The default is noising, as
 * ACDC does: the clean prompt runs and a component is replaced by its value on the corrupted prompt.
 *
 * 1. Every head and MLP is intervened on alone; its importance is the share of the behaviour it
 *    removes (noising) or restores (mode "patch"). Those with importance >= threshold (or the topK
 *    most important) are candidates.
 * 2. Greedy pruning, from the last layer to the first as ACDC walks the graph: a candidate is dropped
 *    when the circuit without it keeps its faithfulness within `tau`.
 * 3. Edges from the input and every kept node into every kept node's q, k, v (or an MLP, or the
 *    logits) are scored by path patching; edges with importance >= edgeThreshold on a path from the
 *    input to the logits form the circuit.
 * Faithfulness is the metric with the circuit alone: every other head and MLP replaced by its
 * corrupted value (noising), normalized so 1 is the clean run.
 *
 * With a gradient method ("eap", "eap-ig", "relevance") the circuit is instead the topN edges of
 * steer.attribute.edges (or those with |score| >= threshold), pruned to paths from the input to the
 * logits; its faithfulness is measured the same node-level way (a node is in when an in-graph edge
 * touches it; edges between kept nodes that the selection left out are not cut).
 */
import { BadArgumentError, type HookFn, type Model } from "../engine";
import { componentName } from "../protocol";
import { checkMethod } from "./attribution-gradients";
import { edges as edgeScores, type EdgeMethod } from "./attribution-edges";
import { Circuit, circuitNodes } from "./circuit";
import { Experiment, type ExperimentOptions, type Intervention } from "./experiment";
import { pathHooks, pathMetrics, type Receiver, type Sender } from "./paths";

export type DiscoverMethod = "patching" | EdgeMethod;

export interface DiscoverOptions extends ExperimentOptions {
  /** "patching" (default): node patching, greedy pruning, path patching; or edges from gradients: "eap", "eap-ig", "relevance" */
  method?: DiscoverMethod;
  /** "patching": node importance needed to be a candidate (default 0.1), ignored when topK is given; gradient methods: |edge score| to keep an edge */
  threshold?: number;
  /** "patching": the k most important nodes as candidates */
  topK?: number;
  /** gradient methods: keep the topN edges by |score| (default 20 when no threshold is given) */
  topN?: number;
  /** "eap-ig": interpolation steps (default 5) */
  steps?: number;
  /** edge importance needed to stay in the circuit (default: threshold, or 0.1 with topK) */
  edgeThreshold?: number;
  /** how much faithfulness greedy pruning may give up per removed node (default 0.02) */
  tau?: number;
}

type Node = Exclude<Sender, { kind: "input" }>;

export async function discover(model: Model, options: DiscoverOptions): Promise<Circuit> {
  if (options?.corrupt === undefined) throw new BadArgumentError("Circuit discovery needs clean and corrupt prompts: the circuit is what carries their difference.");
  const chosen = checkMethod(options, ["patching", "eap", "eap-ig", "relevance"]).method;
  if (chosen !== "patching") return fromEdges(model, options, chosen as EdgeMethod);
  if (options.topN !== undefined) throw new BadArgumentError('topN picks edges of a gradient method (method "eap", "eap-ig" or "relevance"); method "patching" picks nodes with topK or threshold.');
  const mode = options.mode ?? "resample";
  const threshold = options.threshold ?? 0.1;
  const tau = options.tau ?? 0.02;
  if (options.topK !== undefined && !(Number.isInteger(options.topK) && options.topK > 0)) throw new BadArgumentError(`topK must be a positive integer, got ${options.topK}.`);
  for (const [k, v] of [["threshold", threshold], ["tau", tau], ["edgeThreshold", options.edgeThreshold ?? 0]] as const) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new BadArgumentError(`${k} must be a number >= 0, got ${v}.`);
  }
  const edgeThreshold = options.edgeThreshold ?? (options.topK !== undefined ? 0.1 : threshold);
  const ex = await Experiment.create(model, { ...options, mode }, pathHooks(model));
  const { nLayers: L, nHeads: H, dModel } = model.config;

  // 1. Node importance, one intervention per head and MLP.
  const all = everyNode(model);
  const single = await ex.evaluate(all.map((n) => (i) => nodeHooks(ex, [n], i)));
  const importance = new Map(all.map((n, k) => [componentName(n), ex.importance(ex.score(single[k]))]));
  const ranked = [...all].sort((a, b) => Math.abs(importance.get(componentName(b))!) - Math.abs(importance.get(componentName(a))!));
  let kept = options.topK !== undefined ? ranked.slice(0, options.topK) : ranked.filter((n) => Math.abs(importance.get(componentName(n))!) >= threshold);

  // 2. Greedy pruning, last layer first.
  const faith = async (nodes: readonly Node[]) => ex.score((await ex.evaluate([circuitOnly(ex, all, nodes)]))[0]);
  let current = await faith(kept);
  for (const n of [...kept].sort((a, b) => b.layer - a.layer || (b.kind === "mlp" ? 1 : 0) - (a.kind === "mlp" ? 1 : 0))) {
    const without = kept.filter((k) => k !== n);
    const f = await faith(without);
    if (f >= current - tau) {
      kept = without;
      current = f;
    }
  }

  // 3. Edges between what is left, by path patching.
  const senders: Sender[] = [{ kind: "input" }, ...kept];
  const receivers: Receiver[] = [
    ...kept.flatMap((n): Receiver[] => (n.kind === "head" ? (["q", "k", "v"] as const).map((input) => ({ ...n, input })) : [n])),
    { kind: "logits" },
  ];
  const raw = await pathMetrics(ex, senders, receivers);
  const edges: { from: string; to: string; input?: "q" | "k" | "v"; score: number }[] = [];
  senders.forEach((s, si) =>
    receivers.forEach((r, ri) => {
      const v = raw[si * receivers.length + ri];
      if (Number.isNaN(v)) return;
      const to = r.kind === "logits" ? "logits" : componentName(r);
      edges.push({ from: componentName(s), to, ...(r.kind === "head" ? { input: r.input } : {}), score: ex.importance(ex.score(v)) });
    }),
  );
  const keptNames = new Set(kept.map(componentName));
  const nodes = circuitNodes({ nLayers: L, nHeads: H, dModel }).map((id) => ({ id, score: id === "input" || id === "logits" ? 1 : importance.get(id) ?? 0, inGraph: id === "input" || id === "logits" || keptNames.has(id) }));
  const method = `patching + path patching, greedy pruning (${mode}, ${options.topK !== undefined ? `topK ${options.topK}` : `threshold ${threshold}`}, edge threshold ${edgeThreshold}, tau ${tau})`;
  const draft = new Circuit({ cfg: { nLayers: L, nHeads: H, dModel }, nodes, edges, method, metric: ex.metricInfo }).prune(edgeThreshold);
  // Pruning by edges may drop nodes that no path uses: faithfulness is measured on what remains.
  const final = kept.filter((n) => draft.nodes.find((x) => x.id === componentName(n))?.inGraph);
  const faithfulness = final.length === kept.length ? current : await faith(final);
  return new Circuit({
    cfg: { nLayers: L, nHeads: H, dModel },
    nodes: draft.nodes,
    edges: draft.edges,
    title: `Circuit for ${ex.metric.name}`,
    method,
    metric: ex.metricInfo,
    faithfulness,
  });
}

/** Default edges kept by a gradient method when neither topN nor threshold is given. */
const TOP_N = 20;

/** The circuit of the strongest edges by a gradient method, with node-level faithfulness. */
async function fromEdges(model: Model, options: DiscoverOptions, method: EdgeMethod): Promise<Circuit> {
  if (options.topK !== undefined || options.edgeThreshold !== undefined || options.tau !== undefined) {
    throw new BadArgumentError(`topK, edgeThreshold and tau belong to method "patching"; method "${method}" keeps edges by topN or threshold.`);
  }
  if (options.topN !== undefined && options.threshold !== undefined) throw new BadArgumentError("Give topN or threshold, not both: the circuit keeps the topN edges by |score|, or those with |score| >= threshold.");
  const selection = options.threshold !== undefined ? { threshold: options.threshold } : { topN: options.topN ?? TOP_N };
  const mode = options.mode ?? "resample";
  const scores = await edgeScores(model, { clean: options.clean, corrupt: options.corrupt!, metric: options.metric, method, ...(options.steps !== undefined ? { steps: options.steps } : {}) });
  const draft = scores.toCircuit(selection);
  const hooks = Array.from({ length: model.config.nLayers }, (_, l) => [`blocks.${l}.attn.hook_z`, `blocks.${l}.hook_mlp_out`]).flat();
  const ex = await Experiment.create(model, { ...options, mode }, hooks);
  const all = everyNode(model);
  const kept = new Set(draft.nodes.filter((n) => n.inGraph).map((n) => n.id));
  const circuit = all.filter((n) => kept.has(componentName(n)));
  const faithfulness = ex.score((await ex.evaluate([circuitOnly(ex, all, circuit)]))[0]);
  return new Circuit({ ...draft.payload(), title: `Circuit for ${ex.metric.name}`, method: `${draft.method}; faithfulness node-level (${mode})`, faithfulness });
}

/** Every head and MLP, in layer order. */
function everyNode(model: Model): Node[] {
  const all: Node[] = [];
  for (let l = 0; l < model.config.nLayers; l++) {
    for (let h = 0; h < model.config.nHeads; h++) all.push({ kind: "head", layer: l, head: h });
    all.push({ kind: "mlp", layer: l });
  }
  return all;
}

/** Hooks applying the experiment's intervention to each of `nodes` on prompt `i`. */
function nodeHooks(ex: Experiment, nodes: readonly Node[], i: number): Record<string, HookFn[]> {
  const hooks: Record<string, HookFn[]> = {};
  const heads = new Map<number, number[]>();
  for (const n of nodes) {
    if (n.kind === "mlp") (hooks[`blocks.${n.layer}.hook_mlp_out`] ??= []).push(ex.intervene(`blocks.${n.layer}.hook_mlp_out`, i, {}));
    else heads.set(n.layer, [...(heads.get(n.layer) ?? []), n.head]);
  }
  for (const [l, hs] of heads) (hooks[`blocks.${l}.attn.hook_z`] ??= []).push(ex.intervene(`blocks.${l}.attn.hook_z`, i, { heads: hs }));
  return hooks;
}

/**
 * The run with only `circuit` left as in the clean run: noising intervenes on everything else;
 * denoising ("patch", from the corrupted run) patches the circuit itself in from the clean run.
 */
function circuitOnly(ex: Experiment, all: readonly Node[], circuit: readonly Node[]): Intervention {
  const inside = new Set(circuit);
  return (i) => nodeHooks(ex, ex.mode === "patch" ? circuit : all.filter((n) => !inside.has(n)), i);
}
