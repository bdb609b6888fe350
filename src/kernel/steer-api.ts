/**
 * The cell API: the global `steer`, also `import steer, { display } from "steer-nb"`.
 * Add a member by adding one line to `steer` below (and its type to cell-api.d.ts).
 */
import { toCellOutput, html, markdown, svg, png, json } from "./display";
import { emitOutput } from "./output-channel";
import { onRendererMessage, postRendererMessage } from "./renderer-messages";
import { checkInterrupt } from "./interrupt";
import type { SteerApi as DeclaredApi } from "steer-nb";

/** Shows a value below the cell now (the cell keeps running). `mime` forces the output type. */
export function display(value: unknown, mime?: string): void {
  emitOutput(toCellOutput(value, mime));
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
};

export type SteerApi = typeof steer;

// The declarations cells see (cell-api.d.ts) must describe the real object.
const _declared: DeclaredApi = steer;

/** What `import ... from "steer-nb"` yields: every member by name, and `steer` as default. */
export function cellApiModule(): Record<string, unknown> {
  return { ...steer, steer, default: steer };
}
