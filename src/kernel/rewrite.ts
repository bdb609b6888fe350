/**
 * Turns one cell's JavaScript (esbuild's output) into a script that runs in the kernel's global
 * scope. Every edit keeps line breaks where they were, so the composed source map stays simple:
 *  - top-level `const`/`let`/`var`/`class` become assignments to global variables declared with
 *    `var` in front of the script, and top-level functions are copied to globals, so later cells
 *    see them (re-running a cell that declares `const x` works, as in a REPL);
 *  - `import` declarations become awaited calls of the kernel's importer (resolution beside the
 *    notebook, and `steer-nb` for the cell API); `import(...)` and `import.meta` likewise;
 *  - an interrupt check is inserted at the top of every loop body and every function body, so a
 *    busy `while (true) {}` stops when the interrupt flag is set. It is an inline read of the
 *    shared flag calling CHECK only when the flag is set. A plain read, because Atomics.load or a
 *    call per iteration made tight loops 2-8x slower; V8 (Node 20) does not hoist it out of the
 *    loop, as the interrupt tests check, and the host kills a kernel that does not stop anyway;
 *  - every `await` resumes through AFTER_AWAIT, so an interrupted cell stuck in an await does not
 *    go on when that await settles later;
 *  - the value of a final expression statement is returned (boxed, so a Promise is not adopted).
 * The body runs inside an async arrow function, so top-level await works.
 */
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import MagicString from "magic-string";

/** Globals the rewritten code uses; installed by the executor. */
export const CHECK = "__steer_check";
export const FLAG = "__steer_flag";
export const AFTER_AWAIT = "__steer_after_await";
export const IMPORT = "__steer_import";
export const IMPORT_META = "__steer_import_meta";
/** The script's last line, which calls the async wrapper (not part of the cell). */
export const WRAPPER_CALL = "})()";

export interface RewrittenCell {
  code: string;
  /** Source map from `code` back to the input JavaScript (version 3, JSON object). */
  map: SourceMapJson;
  /** Top-level names the cell declares (kept for later cells and listed as variables). */
  names: string[];
}

export interface SourceMapJson {
  version: number;
  sources: string[];
  names: string[];
  mappings: string;
  file?: string;
  sourceRoot?: string;
  sourcesContent?: string[];
}

type Node = acorn.AnyNode;

export function rewriteCell(js: string, sourceName: string): RewrittenCell {
  const program = acorn.parse(js, {
    ecmaVersion: "latest",
    sourceType: "module",
    allowAwaitOutsideFunction: true,
  });
  const s = new MagicString(js);

  instrument(program, s);

  const names = new Set<string>();
  const functionNames: string[] = [];
  const body = program.body;
  for (const statement of body) {
    rewriteTopLevel(statement, s, names, functionNames);
  }

  const last = body[body.length - 1];
  if (last && last.type === "ExpressionStatement") {
    // The statement's range, not the expression's: acorn leaves parentheses out of the latter.
    const end = js[last.end - 1] === ";" ? last.end - 1 : last.end;
    s.prependRight(last.start, "return [(");
    s.appendLeft(end, ")]");
  }

  const declared = [...names];
  const prefix =
    (declared.length ? `var ${declared.join(", ")};` : "") +
    `(async () => {"use strict";const ${FLAG} = globalThis.${FLAG};` +
    functionNames.map((n) => `globalThis.${n} = ${n};`).join("");
  s.prepend(prefix);
  s.append(`\n${WRAPPER_CALL}`);

  const map = s.generateMap({ hires: true, source: sourceName, includeContent: false });
  return { code: s.toString(), map: JSON.parse(map.toString()) as SourceMapJson, names: declared };
}

function instrument(program: acorn.Program, s: MagicString): void {
  const check = `if (${FLAG}[0] !== 0) ${CHECK}();`;
  const loopBody = (node: { body: acorn.Statement }) => {
    const b = node.body;
    if (b.type === "BlockStatement") {
      s.appendLeft(b.start + 1, check);
    } else {
      s.prependRight(b.start, `{${check}`);
      s.appendLeft(b.end, "}");
    }
  };
  const functionBody = (node: acorn.Function) => {
    const b = node.body;
    if (b.type === "BlockStatement") {
      s.appendLeft(b.start + 1, check);
    } else {
      s.prependRight(b.start, `(${FLAG}[0] !== 0 && ${CHECK}(), `);
      s.appendLeft(b.end, ")");
    }
  };
  walk.simple(program, {
    ForStatement: loopBody,
    ForInStatement: loopBody,
    ForOfStatement: loopBody,
    WhileStatement: loopBody,
    DoWhileStatement: loopBody,
    FunctionDeclaration: functionBody,
    FunctionExpression: functionBody,
    ArrowFunctionExpression: functionBody,
    AwaitExpression(node) {
      s.prependRight(node.start, `${AFTER_AWAIT}(`);
      s.appendLeft(node.end, ")");
    },
    ImportExpression(node) {
      s.overwrite(node.start, node.start + "import".length, IMPORT);
    },
    MetaProperty(node) {
      if (node.meta.name === "import") s.overwrite(node.start, node.end, IMPORT_META);
    },
  });
}

function rewriteTopLevel(statement: Node, s: MagicString, names: Set<string>, functionNames: string[]): void {
  switch (statement.type) {
    case "VariableDeclaration":
      rewriteDeclaration(statement, s, names);
      return;
    case "FunctionDeclaration":
      if (!statement.id) return;
      names.add(statement.id.name);
      functionNames.push(statement.id.name);
      return;
    case "ClassDeclaration":
      if (!statement.id) return;
      names.add(statement.id.name);
      s.prependRight(statement.start, `${statement.id.name} = `);
      s.appendLeft(statement.end, ";");
      return;
    case "ImportDeclaration":
      rewriteImport(statement, s, names);
      return;
    case "ExportNamedDeclaration":
      if (statement.declaration) {
        removeKeepingLines(s, statement.start, statement.declaration.start);
        rewriteTopLevel(statement.declaration, s, names, functionNames);
      } else {
        // `export { a }` / `export { a } from "m"`: a cell has no importers.
        removeKeepingLines(s, statement.start, statement.end);
      }
      return;
    case "ExportDefaultDeclaration": {
      const d = statement.declaration;
      if ((d.type === "FunctionDeclaration" || d.type === "ClassDeclaration") && d.id) {
        removeKeepingLines(s, statement.start, d.start);
        rewriteTopLevel(d, s, names, functionNames);
      } else {
        s.overwrite(statement.start, d.start, "void ");
      }
      return;
    }
    case "ExportAllDeclaration":
      removeKeepingLines(s, statement.start, statement.end);
      return;
    default:
      return;
  }
}

function rewriteDeclaration(decl: acorn.VariableDeclaration, s: MagicString, names: Set<string>): void {
  // `const` / `let` / `var` keyword: removed, so `const a = 1, b = 2;` becomes `(a = 1), (b = 2);`.
  s.remove(decl.start, decl.declarations[0].start);
  for (const d of decl.declarations) {
    collectPatternNames(d.id, names);
    s.prependRight(d.start, "(");
    if (!d.init) s.appendLeft(d.id.end, " = void 0");
    s.appendLeft(d.end, ")");
  }
}

function rewriteImport(decl: acorn.ImportDeclaration, s: MagicString, names: Set<string>): void {
  const call = `await ${IMPORT}(${JSON.stringify(decl.source.value)})`;
  let namespace: string | undefined;
  const fields: string[] = [];
  for (const spec of decl.specifiers) {
    names.add(spec.local.name);
    if (spec.type === "ImportNamespaceSpecifier") namespace = spec.local.name;
    else if (spec.type === "ImportDefaultSpecifier") fields.push(`default: ${spec.local.name}`);
    else {
      const imported = spec.imported.type === "Identifier" ? spec.imported.name : JSON.stringify(spec.imported.value);
      fields.push(imported === spec.local.name ? imported : `${imported}: ${spec.local.name}`);
    }
  }
  let replacement: string;
  if (namespace && fields.length) replacement = `({ ${fields.join(", ")} } = ${namespace} = ${call});`;
  else if (namespace) replacement = `${namespace} = ${call};`;
  else if (fields.length) replacement = `({ ${fields.join(", ")} } = ${call});`;
  else replacement = `${call};`;
  s.overwrite(decl.start, decl.end, replacement + newlinesIn(s.original, decl.start, decl.end));
}

function collectPatternNames(pattern: acorn.Pattern, names: Set<string>): void {
  switch (pattern.type) {
    case "Identifier":
      names.add(pattern.name);
      return;
    case "ObjectPattern":
      for (const p of pattern.properties) {
        collectPatternNames(p.type === "RestElement" ? p.argument : p.value, names);
      }
      return;
    case "ArrayPattern":
      for (const e of pattern.elements) if (e) collectPatternNames(e, names);
      return;
    case "AssignmentPattern":
      collectPatternNames(pattern.left, names);
      return;
    case "RestElement":
      collectPatternNames(pattern.argument, names);
      return;
    default:
      return;
  }
}

function newlinesIn(text: string, start: number, end: number): string {
  return "\n".repeat(text.slice(start, end).split("\n").length - 1);
}

function removeKeepingLines(s: MagicString, start: number, end: number): void {
  const lines = newlinesIn(s.original, start, end);
  if (lines) s.overwrite(start, end, lines);
  else s.remove(start, end);
}
