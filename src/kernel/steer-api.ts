/**
 * The cell API: the global `steer`, also `import steer, { display } from "steer-nb"`.
 * Add a member by adding one line to `steer` below: the declarations cells see for completions
 * (dist/types/steer-nb.d.ts) are generated from this file by scripts/cell-types.mjs.
 */
import { toCellOutput, html, markdown, svg, png, json } from "./display";
import { emitOutput } from "./output-channel";
import { onRendererMessage, postRendererMessage } from "./renderer-messages";
import { checkInterrupt, interruptFlag } from "./interrupt";
import { resolve } from "node:path";
import { addVector, bundledModelPath, load, mean, patch, quantize, setInterruptFlag, zero, type LoadOptions } from "../engine";

/** Shows a value below the cell now (the cell keeps running). `mime` forces the output type. */
export function display(value: unknown, mime?: string): void {
  emitOutput(toCellOutput(value, mime));
}

// The engine's decode aborts (llama.cpp abort callback) while the I/O thread has this flag raised.
setInterruptFlag(interruptFlag);
// Relative model paths resolve against the notebook's folder (the executor's __dirname for cells).
const notebookFolder = (): string => (Reflect.get(globalThis, "__dirname") as string | undefined) ?? process.cwd();

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
  /** A GGUF model with hooks (default: the bundled samples/models/toy-circuits.gguf). */
  load: (path?: string, options?: LoadOptions) => load(path ?? bundledModelPath(), { ...options, baseDir: notebookFolder() }),
  /** Writes a quantized copy (Q8_0, Q4_K_M, Q4_0, F16, ...) and returns its provenance. */
  quantize: (src: string, dst: string, type: string) => quantize(resolve(notebookFolder(), src), resolve(notebookFolder(), dst), type),
  /** Ready-made hook functions: ablation (zero, mean), activation patching, steering vectors. */
  hooks: { zero, mean, patch, addVector },
};

export type SteerApi = typeof steer;

/** What `import ... from "steer-nb"` yields: every member and every hook by name, and `steer` as default. */
export function cellApiModule(): Record<string, unknown> {
  return { ...steer, ...steer.hooks, steer, default: steer };
}
