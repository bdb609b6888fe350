/** Reads the built renderer bundles (dist/renderers/) that an HTML export of a notebook inlines. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ViewKind } from "../protocol";
import { rendererFile } from "./html-export";

/**
 * The bundle text of each view kind, from `distDir`/renderers; distDir defaults to the folder of the
 * running bundle (dist/extension.js and dist/cli.js both live in dist/).
 */
export function readRendererBundles(kinds: readonly ViewKind[], distDir: string = __dirname): Partial<Record<ViewKind, string>> {
  const bundles: Partial<Record<ViewKind, string>> = {};
  for (const kind of kinds) {
    const file = join(distDir, "renderers", rendererFile(kind));
    try {
      bundles[kind] = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`cannot read the ${kind} view's renderer ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): build it with "npm run build"`);
    }
  }
  return bundles;
}
