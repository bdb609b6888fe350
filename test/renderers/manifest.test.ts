// package.json's notebook renderers agree with src/protocol/views.ts: each view's mime is drawn by
// exactly one renderer, the one VIEW_RENDERERS names (the id the extension's broker listens on), whose
// entry file exists in renderers/ (scripts/build.mjs builds every renderers/*.ts to dist/renderers).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { VIEW_MIMES, VIEW_RENDERERS, type ViewKind } from "../../src/protocol/views";

const root = path.resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const renderers: { id: string; entrypoint: string; mimeTypes: string[]; requiresMessaging?: string }[] = pkg.contributes.notebookRenderer;

test("every view mime has one renderer, with the id VIEW_RENDERERS gives and an entry file", () => {
  const ours = new Set(Object.values(VIEW_RENDERERS));
  for (const kind of Object.keys(VIEW_MIMES) as ViewKind[]) {
    const mime = VIEW_MIMES[kind];
    const drawing = renderers.filter((r) => r.mimeTypes.includes(mime));
    assert.equal(drawing.length, 1, `${mime} should be listed by exactly one renderer in package.json, found ${drawing.map((r) => r.id).join(", ") || "none"}`);
    if (!ours.has(drawing[0].id)) continue;
    assert.equal(drawing[0].id, VIEW_RENDERERS[kind], `${mime} is drawn by ${drawing[0].id}, but VIEW_RENDERERS.${kind} is ${VIEW_RENDERERS[kind]}`);
  }
  for (const r of renderers) {
    const m = /^\.\/dist\/renderers\/([\w-]+)\.js$/.exec(r.entrypoint);
    assert.ok(m, `${r.id}: entrypoint should be ./dist/renderers/<name>.js, got ${r.entrypoint}`);
    assert.ok(existsSync(path.join(root, "renderers", `${m[1]}.ts`)), `${r.id}: no renderers/${m[1]}.ts to build ${r.entrypoint} from`);
    assert.equal(r.requiresMessaging, "optional", `${r.id}: views must still draw where messaging is unavailable`);
  }
});

test("the views of this issue are each registered under their own renderer", () => {
  for (const kind of ["heads", "positions", "components", "attention", "logitLens"] as const) {
    const r = renderers.find((x) => x.id === VIEW_RENDERERS[kind]);
    assert.ok(r, `package.json has no renderer ${VIEW_RENDERERS[kind]} for ${kind}`);
    assert.deepEqual(r.mimeTypes, [VIEW_MIMES[kind]]);
  }
});
