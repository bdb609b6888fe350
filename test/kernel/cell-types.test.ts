// The cell API's types as an editor sees them in a .steer-nb cell: the generated declarations
// (dist/types/steer-nb.d.ts) added to the cells' project by the TypeScript server plugin (ts-plugin/),
// driven through a real TypeScript language service the way VS Code's inferred project for notebook
// cells is configured. Also checks the declared "steer-nb" module against the kernel's real one.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import ts from "typescript";
import type { KernelClient } from "../../src/host";
import { assertOk, newClient, repoRoot, runCell } from "./harness";

const declarations = join(repoRoot, "dist/types/steer-nb.d.ts");
/**
 * How VS Code's TypeScript extension names a cell for tsserver, less the leading `^` of in-memory
 * files: only tsserver treats `^/...` as rooted. The e2e test (test/e2e/) sees the real names.
 */
const cellName = (notebook: string, cell: number) => `/vscode-notebook-cell/ts-nul-authority/work/${notebook}#W${cell}sZmlsZQ==`;
const looseFile = "/work/loose.ts";

/** A language service over in-memory files, wrapped by the plugin as tsserver would. */
function editor(files: Map<string, string>): ts.LanguageService {
  const find = (name: string) => files.get(name);
  const host: ts.LanguageServiceHost = {
    getScriptFileNames: () => [...files.keys()],
    getScriptVersion: () => "1",
    getScriptSnapshot: (name) => {
      const text = find(name) ?? ts.sys.readFile(name);
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
    },
    getScriptKind: (name) => (find(name) !== undefined ? ts.ScriptKind.TS : ts.ScriptKind.Unknown),
    getCurrentDirectory: () => "/work",
    // VS Code's implicit project settings; no @types/node: a notebook folder need not have it.
    // tsserver's inferred projects also take files of any name (cell names end in `#<cell id>`).
    getCompilationSettings: () => ({ target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, strict: true, types: [], allowNonTsExtensions: true }),
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: (name) => find(name) !== undefined || ts.sys.fileExists(name),
    readFile: (name) => find(name) ?? ts.sys.readFile(name),
  };
  const plugin = createRequire(import.meta.url)(join(repoRoot, "ts-plugin")) as (m: { typescript: typeof ts }) => { create(info: unknown): ts.LanguageService };
  const logger = { info: () => undefined };
  return plugin({ typescript: ts }).create({ languageService: ts.createLanguageService(host), languageServiceHost: host, project: { projectService: { logger } }, config: {} });
}

/** Completion names at the `|` in the cell's source. */
function completionsAt(sourceWithCursor: string): string[] {
  const at = sourceWithCursor.indexOf("|");
  const name = cellName("demo.steer-nb", 0);
  const service = editor(new Map([[name, sourceWithCursor.replace("|", "")]]));
  return service.getCompletionsAtPosition(name, at, {})?.entries.map((e) => e.name) ?? [];
}

function diagnostics(service: ts.LanguageService, file: string): string[] {
  return [...service.getSyntacticDiagnostics(file), ...service.getSemanticDiagnostics(file)].map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
}

function enclosingModule(node: ts.Node): string | undefined {
  for (let n: ts.Node | undefined = node; n; n = n.parent) if (ts.isModuleDeclaration(n)) return n.name.getText();
  return undefined;
}

describe("cell API types in notebook cells", { skip: !existsSync(declarations) && "dist/types/steer-nb.d.ts is missing: run npm run build" }, () => {
  const completions: { at: string; source: string; expected: string[] }[] = [
    { at: "the global steer", source: "steer.|", expected: ["load", "quantize", "hooks", "display", "html", "checkInterrupt"] },
    { at: "a loaded model", source: "const model = await steer.load();\nmodel.|", expected: ["runWithCache", "runWithHooks", "runBatch", "generate", "hookNames", "tokenize", "weight", "dispose"] },
    { at: "steer.hooks", source: "steer.hooks.|", expected: ["zero", "mean", "patch", "addVector"] },
    { at: "a cached activation", source: 'const m = await steer.load();\nconst { cache } = await m.runWithCache("Hello");\ncache.get("blocks.0.hook_resid_post").|', expected: ["shape", "dims", "data", "select", "slice"] },
    { at: "the module's default export", source: 'import api from "steer-nb";\napi.|', expected: ["load", "hooks"] },
    { at: "the module's named exports", source: 'import { | } from "steer-nb";', expected: ["load", "zero", "addVector", "display", "steer", "Model", "Tensor", "ActivationCache", "HookFn"] },
  ];
  for (const row of completions) {
    test(`completions on ${row.at}`, () => {
      const names = completionsAt(row.source);
      const missing = row.expected.filter((n) => !names.includes(n));
      assert.deepEqual(missing, [], `expected ${row.expected.join(", ")} among the completions; got ${names.slice(0, 40).join(", ")}`);
    });
  }

  test("a cache entry is a Tensor, not any", () => {
    const source = 'const m = await steer.load();\nconst { cache } = await m.runWithCache("Hello");\nconst act = cache.get("blocks.0.hook_resid_post");';
    const name = cellName("types.steer-nb", 0);
    const service = editor(new Map([[name, source]]));
    const info = service.getQuickInfoAtPosition(name, source.lastIndexOf("act"));
    assert.equal(ts.displayPartsToString(info?.displayParts), "const act: Tensor");
  });

  test("cells written as the kernel runs them get no false errors, and real errors stay", () => {
    const first = cellName("run.steer-nb", 0);
    const second = cellName("run.steer-nb", 1);
    const typed = cellName("run.steer-nb", 2);
    const wrong = cellName("run.steer-nb", 3);
    const service = editor(new Map([
      // top-level await in a script cell; `model` declared again in the next cell
      [first, 'const model = await steer.load();\nconst { logits, cache } = await model.runWithCache("Hello");\ndisplay(logits.shape);\ncache.keys()'],
      [second, 'const model = await steer.load("other.gguf", { contextSize: 256 });\nawait model.runWithHooks("Hi", { "blocks.0.attn.hook_pattern": steer.hooks.zero({ heads: [0] }) });'],
      // an import makes the cell a module: top-level await must still be accepted
      [typed, 'import { patch, type Tensor, type HookFn, type HeadScores } from "steer-nb";\nconst source: Tensor = (await (await steer.load()).runWithCache("x")).cache.get("blocks.0.hook_resid_post");\nconst h: HookFn = patch(source, { positions: [0] });\nconst best = (s: HeadScores): string => s.top(1)[0].name;\n[h, best]'],
      [wrong, "steer.lod();\nconst n: number = steer.hooks.zero();"],
      [looseFile, "const x = await Promise.resolve(1);\nconst x = 2;"],
    ]));
    assert.deepEqual(diagnostics(service, first), []);
    assert.deepEqual(diagnostics(service, second), []);
    assert.deepEqual(diagnostics(service, typed), []);
    assert.deepEqual(diagnostics(service, wrong).map((d) => d.slice(0, d.indexOf(":"))), ["TS2551", "TS2322"], diagnostics(service, wrong).join("\n"));
    // Outside notebook cells nothing is silenced.
    assert.ok(diagnostics(service, looseFile).some((d) => d.startsWith("TS1375")), diagnostics(service, looseFile).join("\n"));
  });

  test("files that are not .steer-nb cells do not get the cell API", () => {
    const other = "/vscode-notebook-cell/ts-nul-authority/work/other.ipynb#W0sZmlsZQ==";
    const service = editor(new Map([[other, "steer.load()"]]));
    assert.ok(diagnostics(service, other).some((d) => d.startsWith("TS2304")), "steer should be unknown in a Jupyter cell");
  });

  describe("the declared module matches the kernel's", { timeout: 30_000 }, () => {
    let client: KernelClient;
    before(() => {
      client = newClient();
    });
    after(() => client.dispose());

    test("every value export of steer-nb is declared, and every declared one exists", async () => {
      const run = await runCell(client, 'import * as api from "steer-nb";\nconsole.log(JSON.stringify(Object.keys(api).sort()));\nconsole.log(api.zero === steer.hooks.zero, typeof steer.hooks.addVector);');
      assertOk(run, "import * as api");
      const [keysLine, identity] = run.text.trim().split("\n");
      assert.equal(identity, "true function");
      const program = ts.createProgram([declarations], { types: [], noEmit: true });
      const checker = program.getTypeChecker();
      const module = checker.getAmbientModules().find((m) => m.name === '"steer-nb"');
      assert.ok(module, 'dist/types/steer-nb.d.ts declares no module "steer-nb"');
      const declared = checker
        .getExportsOfModule(module)
        // declared in the module itself: `export type *` re-exports carry no values
        .filter((s) => s.declarations?.some((d) => (ts.isVariableDeclaration(d) || ts.isExportAssignment(d)) && enclosingModule(d) === '"steer-nb"'))
        .map((s) => s.name)
        .sort();
      assert.deepEqual(declared, JSON.parse(keysLine));
    });
  });
});
