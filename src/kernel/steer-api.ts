/**
 * The cell API: the global `steer`, also `import steer, { display } from "steer-nb"`.
 * Add a member by adding one line to `steer` below (and its type to cell-api.d.ts).
 */
import { toCellOutput, html, markdown, svg, png, json } from "./display";
import { emitOutput } from "./output-channel";
import { onRendererMessage, postRendererMessage } from "./renderer-messages";
import { checkInterrupt, interruptFlag } from "./interrupt";
import { resolve } from "node:path";
import { bundledModelPath, load, quantize, setInterruptFlag, type LoadOptions } from "../engine";
import type { SteerApi as DeclaredApi } from "steer-nb";

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
};

export type SteerApi = typeof steer;

// The declarations cells see (cell-api.d.ts) must describe the real object.
const _declared: DeclaredApi = steer;

/** What `import ... from "steer-nb"` yields: every member by name, and `steer` as default. */
export function cellApiModule(): Record<string, unknown> {
  return { ...steer, steer, default: steer };
}
