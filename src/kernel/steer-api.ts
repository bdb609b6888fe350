/**
 * The cell API: the global `steer`, also `import steer, { display } from "steer-nb"`.
 * Add a member by adding one line to `steer` below: the declarations cells see for completions
 * (dist/types/steer-nb.d.ts) are generated from this file by scripts/cell-types.mjs.
 */
import { html, markdown, svg, png, json } from "./display";
import { display, Progress } from "./live-output";
import { patchWithProgress } from "./sweep-progress";
import { onRendererMessage, postRendererMessage } from "./renderer-messages";
import { checkInterrupt, interruptFlag } from "./interrupt";
import { basename, resolve } from "node:path";
import { attribute, circuit, heads, massive, metrics, steering } from "../lens";
import { addVector, bundledModelPath, load, mean, patch, quantize, zero, type LoadOptions, type Model } from "../engine";
import { sendToHost } from "./output-channel";

export { display };

let notebookFolder = (): string => process.cwd();

/** Relative model paths resolve against `folder()`: the kernel passes the running notebook's folder. */
export function resolvePathsIn(folder: () => string): void {
  notebookFolder = folder;
}

let notebookModel: string | undefined;

/** The model the running notebook names (an absolute path from the host), or undefined: the bundled one. */
export function useNotebookModel(path: string | undefined): void {
  notebookModel = path;
}

/** Loads a model and tells the host what it loaded (the status bar shows it). */
async function loadModel(path: string | undefined, options: LoadOptions | undefined): Promise<Model> {
  // Decoding aborts (llama.cpp's abort callback) while the I/O thread has the interrupt flag raised.
  const model = await load(path ?? notebookModel ?? bundledModelPath(), { ...options, baseDir: notebookFolder(), abortFlag: interruptFlag });
  const { path: full, quantization } = model.provenance;
  sendToHost({
    type: "model-loaded",
    path: full,
    name: basename(full).replace(/\.gguf$/i, ""),
    architecture: model.config.arch,
    quantization,
    nLayers: model.config.nLayers,
    nHeads: model.config.nHeads,
  });
  return model;
}

export const steer = {
  display,
  html,
  markdown,
  svg,
  png,
  json,
  onRendererMessage,
  postRendererMessage,
  checkInterrupt,
  /** A progress line updated in place: `const p = steer.progress(144, "my sweep"); p.update(37); p.done();` */
  progress: (total: number, label?: string) => new Progress(total, label),
  /** A GGUF model with hooks (default: the notebook's model, metadata `steer.model`, else the bundled samples/models/toy-circuits.gguf). */
  load: (path?: string, options?: LoadOptions) => loadModel(path, options),
  /** Writes a quantized copy (Q8_0, Q4_K_M, Q4_0, F16, ...) and returns its provenance. */
  quantize: (src: string, dst: string, type: string) => quantize(resolve(notebookFolder(), src), resolve(notebookFolder(), dst), type),
  /** Ready-made hook functions: ablation (zero, mean), activation patching, steering vectors. */
  hooks: { zero, mean, patch, addVector },
  /** Metrics on the last position: logitDiff(" Mary", " John"), logProb, prob, klToClean. */
  metrics,
  /** Activation patching sweeps (residual, attnOut, mlpOut, heads, path; each shows a progress bar) and their re-runs. */
  patch: patchWithProgress,
  /** Attribution without gradients: direct logit attribution, logit lens, decomposed residual stream. */
  attribute,
  /** Head detectors (previous-token, duplicate-token, induction) and attention patterns. */
  heads,
  /** Circuit discovery, the Circuit value and its exports (JSON for EAP-IG, DOT, Mermaid, SVG, PNG). */
  circuit,
  /** Massive activations (Sun et al. 2024): scan and ablate. */
  massive,
  /** Contrastive steering vectors and llama.cpp control vectors. */
  steering,
};

export type SteerApi = typeof steer;

/**
 * What `import ... from "steer-nb"` yields: every member and every hook by name, and `steer` as default.
 * A hook wins over a member of the same name: `import { patch }` is the hook steer.hooks.patch.
 */
export function cellApiModule(): Record<string, unknown> {
  return { ...steer, ...steer.hooks, steer, default: steer };
}
