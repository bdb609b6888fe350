/**
 * Compiles one TypeScript cell: esbuild strips the types (keeping every import, since a later cell
 * may use what this one imports), then rewrite.ts makes it a REPL-style script. Positions in the
 * result map back to the cell's own TypeScript through both source maps.
 */
import { SourceMap, type SourceMapping } from "node:module";
import type { TransformFailure } from "esbuild";
import { rewriteCell } from "./rewrite";

export interface CompiledCell {
  /** Script to run with vm; its completion value is a Promise of `[lastValue]` or undefined. */
  code: string;
  names: string[];
  /** Line of `code` that only calls the wrapper function: frames there are not the user's. */
  wrapperLine: number;
  /** Maps a 1-based line and column in `code` to the 1-based line and column in the cell's TypeScript. */
  originalPosition(line: number, column: number): { line: number; column: number } | undefined;
}

/** A cell that does not compile; `line`/`column` are 1-based positions in the cell. */
export class CellSyntaxError extends Error {
  override readonly name = "SyntaxError";
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

type Esbuild = typeof import("esbuild");
let esbuild: Esbuild | undefined;

/** Starts esbuild's service before the first cell needs it (it takes a few hundred ms). */
export async function warmUpCompiler(): Promise<void> {
  esbuild ??= (await import("esbuild")) as Esbuild;
  await esbuild.transform("", { loader: "ts" });
}

export async function compileCell(source: string, cellFile: string): Promise<CompiledCell> {
  // Loaded on first use: esbuild starts its service process then, not at kernel start.
  esbuild ??= (await import("esbuild")) as Esbuild;
  let js: string;
  let tsMap: SourceMap;
  try {
    const out = await esbuild.transform(source, {
      loader: "ts",
      sourcefile: cellFile,
      sourcemap: "external",
      target: "node20",
      // Keep imports that look unused: later cells may use them.
      tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
    });
    js = out.code;
    tsMap = new SourceMap(JSON.parse(out.map));
  } catch (e) {
    const first = (e as TransformFailure).errors?.[0];
    if (!first) throw e;
    throw new CellSyntaxError(first.text, first.location?.line ?? 1, (first.location?.column ?? 0) + 1);
  }

  let rewritten: ReturnType<typeof rewriteCell>;
  try {
    rewritten = rewriteCell(js, cellFile);
  } catch (e) {
    // esbuild accepted it, acorn did not: report at the TypeScript position.
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    const at = loc ? lookup(tsMap, loc.line - 1, loc.column) : undefined;
    throw new CellSyntaxError((e as Error).message.replace(/ \(\d+:\d+\)$/, ""), (at?.originalLine ?? 0) + 1, (at?.originalColumn ?? 0) + 1);
  }
  const jsMap = new SourceMap({ file: cellFile, sourceRoot: "", sourcesContent: [], ...rewritten.map });

  return {
    code: rewritten.code,
    names: rewritten.names,
    wrapperLine: rewritten.code.split("\n").length,
    originalPosition(line, column) {
      const inJs = lookup(jsMap, line - 1, column - 1);
      const inTs = inJs && lookup(tsMap, inJs.originalLine, inJs.originalColumn);
      if (!inTs) return undefined;
      return { line: inTs.originalLine + 1, column: inTs.originalColumn + 1 };
    },
  };
}

function lookup(map: SourceMap, line: number, column: number): SourceMapping | undefined {
  const entry = map.findEntry(line, column);
  return "originalLine" in entry ? (entry as SourceMapping) : undefined;
}
