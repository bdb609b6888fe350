/**
 * Path patching (Wang et al. 2022), by the two-run method: the effect of a sender on the metric through
 * one receiver only. Run A applies the experiment's intervention to the sender while every other head
 * and MLP is frozen at its value in the base run, so the change reaches the receiver only along the
 * direct residual path, and records the receiver's input (its q, k or v, an MLP's normalized input).
 * Run B is the base run with only that receiver input replaced by run A's; its metric is the path's
 * effect. For the logits as receiver, run A's metric itself is the direct effect.
 * Senders are "input" (the embeddings), heads "a{L}.h{H}" and MLPs "m{L}"; receivers heads with an
 * input ("a3.h2<q>"), MLPs and "logits", as EAP-IG names them.
 */
import { BadArgumentError, checkIndex, Tensor, patch as patchHook, type BatchItem, type HookFn, type Hooks, type Model } from "../engine";
import { componentName, parseComponent, type ComponentRef, type EdgeInput } from "../protocol";
import { feeds } from "./circuit";
import { Experiment, type ExperimentOptions, type Intervention } from "./experiment";
import { KERNEL_SESSION } from "./result";
import { HeadScores } from "./scores";

export type Sender = Exclude<ComponentRef, { kind: "logits" }>;
export type Receiver = { kind: "head"; layer: number; head: number; input: EdgeInput } | { kind: "mlp"; layer: number } | { kind: "logits" };

const INPUT_HOOK: Record<EdgeInput, string> = { q: "attn.hook_q", k: "attn.hook_k", v: "attn.hook_v" };

export function receiverName(r: Receiver): string {
  return r.kind === "head" ? `${componentName(r)}<${r.input}>` : componentName(r);
}

/** Parses "a3.h2<q>", "m1" or "logits". */
export function parseReceiver(name: string): Receiver | undefined {
  const m = /^(a\d+\.h\d+)<([qkv])>$/.exec(name);
  if (m) {
    const c = parseComponent(m[1]) as { kind: "head"; layer: number; head: number };
    return { ...c, input: m[2] as EdgeInput };
  }
  const c = parseComponent(name);
  if (c && (c.kind === "mlp" || c.kind === "logits")) return c;
  return undefined;
}


/** Every hook the path patching of an experiment copies from or freezes. */
export function pathHooks(model: Model): string[] {
  const names = ["blocks.0.hook_resid_pre"];
  for (let l = 0; l < model.config.nLayers; l++) {
    const p = `blocks.${l}.`;
    names.push(p + "attn.hook_z", p + "hook_mlp_out", p + "attn.hook_q", p + "attn.hook_k", p + "attn.hook_v", p + "ln2.hook_normalized");
  }
  return names;
}

function checkComponent(model: Model, c: ComponentRef, text: string) {
  const { nLayers, nHeads } = model.config;
  if ("layer" in c) checkIndex(`${text}: layer`, c.layer, nLayers, `this model has ${nLayers} layers`);
  if (c.kind === "head") checkIndex(`${text}: head`, c.head, nHeads, `this model has ${nHeads} heads per layer`);
}

export function toSender(model: Model, s: string | Sender): Sender {
  const c = typeof s === "string" ? parseComponent(s) : s;
  if (!c || c.kind === "logits") throw new BadArgumentError(`A sender must be "input", "a{layer}.h{head}" or "m{layer}", got ${JSON.stringify(s)}.`);
  checkComponent(model, c, JSON.stringify(s));
  return c;
}

export function toReceiver(model: Model, r: string | Receiver): Receiver {
  const c = typeof r === "string" ? parseReceiver(r) : r;
  if (!c) throw new BadArgumentError(`A receiver must be "a{layer}.h{head}<q|k|v>", "m{layer}" or "logits", got ${JSON.stringify(r)}.`);
  checkComponent(model, c, JSON.stringify(r));
  return c;
}

/**
 * Run A's hooks for one sender and prompt: everything frozen at the base run, the sender intervened.
 * Hooks on one name run in order, so the freeze comes first and the sender's intervention after it.
 */
function senderHooks(ex: Experiment, s: Sender, i: number): Hooks {
  const hooks: Record<string, HookFn[]> = {};
  for (let l = 0; l < ex.model.config.nLayers; l++) {
    const z = `blocks.${l}.attn.hook_z`;
    const mlp = `blocks.${l}.hook_mlp_out`;
    hooks[z] = [ex.freeze(z, i)];
    hooks[mlp] = [s.kind === "mlp" && s.layer === l ? ex.intervene(mlp, i, {}) : ex.freeze(mlp, i)];
    if (s.kind === "head" && s.layer === l) hooks[z].push(ex.intervene(z, i, { heads: [s.head] }));
  }
  if (s.kind === "input") hooks["blocks.0.hook_resid_pre"] = [ex.intervene("blocks.0.hook_resid_pre", i, {})];
  return hooks;
}

function receiverHook(model: Model, r: Exclude<Receiver, { kind: "logits" }>): string {
  return r.kind === "head" ? `blocks.${r.layer}.${INPUT_HOOK[r.input]}` : `blocks.${r.layer}.ln2.hook_normalized`;
}

/** The head index of the receiver's input tensor: K and V are per KV head under grouped-query attention. */
function receiverHead(model: Model, r: { head: number; input: EdgeInput }): number {
  const { nHeads, nKvHeads } = model.config;
  return r.input === "q" ? r.head : Math.floor(r.head / (nHeads / nKvHeads));
}

/**
 * Effects of each sender through each receiver, as raw metric values: [senders x receivers], NaN where
 * the sender cannot reach the receiver.
 */
export async function pathMetrics(ex: Experiment, senders: readonly Sender[], receivers: readonly Receiver[], onProgress?: (done: number, total: number) => void): Promise<Float64Array> {
  const model = ex.model;
  const n = ex.size;
  const out = new Float64Array(senders.length * receivers.length).fill(NaN);
  const inputs = receivers.filter((r): r is Exclude<Receiver, { kind: "logits" }> => r.kind !== "logits");
  const names = [...new Set(inputs.map((r) => receiverHook(model, r)))];
  const total = senders.length * (1 + inputs.length);
  let done = 0;
  const perBatch = 32;
  // Run A for every sender: its metric (the direct effect on the logits) and the receivers' inputs.
  const recorded: Map<string, Tensor>[][] = [];
  const aMetric = new Float64Array(senders.length);
  for (let s0 = 0; s0 < senders.length; s0 += perBatch) {
    const chunk = senders.slice(s0, s0 + perBatch);
    const items: BatchItem[] = chunk.flatMap((s) => Array.from({ length: n }, (_, i) => ({ input: ex.baseTokens(i), logits: "last" as const, names, hooks: senderHooks(ex, s, i) })));
    const runs = await model.runBatch(items);
    chunk.forEach((_, c) => {
      const perPrompt = Array.from({ length: n }, (_, i) => {
        const cache = runs[c * n + i].cache;
        return new Map(names.map((name) => [name, cache.get(name)]));
      });
      recorded[s0 + c] = perPrompt;
      aMetric[s0 + c] = ex.meanMetric(Array.from({ length: n }, (_, i) => runs[c * n + i].logits.data));
    });
    done += chunk.length;
    onProgress?.(done, total);
  }
  // Run B for every (sender, receiver input) pair the residual stream connects.
  const pairs: { s: number; r: number; iv: Intervention }[] = [];
  senders.forEach((s, si) =>
    receivers.forEach((r, ri) => {
      if (!feeds(s, r)) return;
      if (r.kind === "logits") {
        out[si * receivers.length + ri] = aMetric[si];
        return;
      }
      const hook = receiverHook(model, r);
      const sel = r.kind === "head" ? { heads: [receiverHead(model, r)] } : {};
      pairs.push({ s: si, r: ri, iv: (i) => ({ [hook]: patchHook(recorded[si][i].get(hook)!, sel) }) });
    }),
  );
  const values = await ex.evaluate(pairs.map((p) => p.iv));
  pairs.forEach((p, k) => (out[p.s * receivers.length + p.r] = values[k]));
  onProgress?.(total, total);
  return out;
}

export interface PathOptions extends ExperimentOptions {
  /** where the effect is measured: "logits" (default) or receivers such as ["a3.h2<q>", "m2"], patched together */
  receivers?: "logits" | readonly string[];
}

/**
 * Path patching from every head to the receivers -> [layer, head]: how much of the behaviour each head
 * restores (or, ablating, removes) through the receivers alone.
 */
export async function path(model: Model, options: PathOptions): Promise<HeadScores> {
  const spec = options.receivers ?? "logits";
  const receivers = spec === "logits" ? [{ kind: "logits" } as Receiver] : spec.map((r) => toReceiver(model, r));
  if (!receivers.length) throw new BadArgumentError("receivers is empty: name at least one, e.g. [\"a3.h2<q>\"] or \"logits\".");
  const ex = await Experiment.create(model, options, pathHooks(model));
  const { nLayers: L, nHeads: H } = model.config;
  const senders: Sender[] = [];
  for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) senders.push({ kind: "head", layer: l, head: h });
  if (receivers.length > 1 && receivers.some((r) => r.kind === "logits")) {
    throw new BadArgumentError('Mixing "logits" with other receivers is ambiguous: measure the logits and the heads in two calls.');
  }
  // Several receivers are patched together in run B: one combined intervention per sender.
  const raw = receivers.length === 1 ? await pathMetrics(ex, senders, receivers, options.onProgress) : await combined(ex, senders, receivers);
  const values = Float32Array.from(raw, (v) => (Number.isNaN(v) ? NaN : ex.score(v)));
  const label = receivers.map(receiverName).join(", ");
  return new HeadScores(new Tensor([L, H], values, ["layer", "head"]), {
    title: `Path patching to ${label}`,
    valueLabel: ex.valueLabel + (ex.mode === "patch" ? ", through the receivers only" : ""),
    metric: ex.metricInfo,
    session: KERNEL_SESSION,
  });
}

/** Run B with every receiver's input replaced together (the receivers of a path-patching query). */
async function combined(ex: Experiment, senders: readonly Sender[], receivers: readonly Receiver[]): Promise<Float64Array> {
  const model = ex.model;
  const inputs = receivers as Exclude<Receiver, { kind: "logits" }>[];
  const names = [...new Set(inputs.map((r) => receiverHook(model, r)))];
  const out = new Float64Array(senders.length).fill(NaN);
  const usable = senders.map((s, k) => ({ s, k })).filter(({ s }) => inputs.some((r) => feeds(s, r)));
  const items: BatchItem[] = usable.flatMap(({ s }) => Array.from({ length: ex.size }, (_, i) => ({ input: ex.baseTokens(i), logits: "last" as const, names, hooks: senderHooks(ex, s, i) })));
  const runs = await model.runBatch(items);
  const ivs: Intervention[] = usable.map((_, u) => (i) => {
    const cache = runs[u * ex.size + i].cache;
    const hooks: Record<string, HookFn[]> = {};
    for (const r of inputs) {
      const hook = receiverHook(model, r);
      const sel = r.kind === "head" ? { heads: [receiverHead(model, r)] } : {};
      (hooks[hook] ??= []).push(patchHook(cache.get(hook), sel));
    }
    return hooks;
  });
  const values = await ex.evaluate(ivs);
  usable.forEach(({ k }, u) => (out[k] = values[u]));
  return out;
}
