// What cells show: streamed console output, rich outputs, errors with the cell's own TypeScript
// positions, and modules resolved beside the notebook.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { KernelClient } from "../../src/host";
import type { CellOutput } from "../../src/protocol";
import { assertOk, newClient, runCell } from "./harness";

const PNG_BYTES = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
const PNG_BASE64 = Buffer.from(PNG_BYTES).toString("base64");

describe("kernel outputs", { timeout: 30_000 }, () => {
  let client: KernelClient;
  before(() => {
    client = newClient();
  });
  after(() => client.dispose());

  test("console output and display() arrive while the cell still runs", async () => {
    const code = 'console.log("early");\ndisplay(steer.markdown("**mid**"));\nawait new Promise((r) => setTimeout(r, 300));\nconsole.log("late");';
    let finished = false;
    const seenBeforeEnd: CellOutput[] = [];
    const outputs: CellOutput[] = [];
    const outcome = await client.execute({ cellId: "stream", cellIndex: 1, code }, (o) => {
      outputs.push(o);
      if (!finished) seenBeforeEnd.push(o);
    }).finally(() => (finished = true));
    assert.equal(outcome.status, "ok");
    assert.deepEqual(
      outputs.map((o) => o.items[0]),
      [
        { mime: "application/vnd.code.notebook.stdout", data: "early\n" },
        { mime: "text/markdown", data: "**mid**" },
        { mime: "application/vnd.code.notebook.stdout", data: "late\n" },
      ],
    );
    // The first two must have come before the 300 ms wait ended, the last one is flushed with the result.
    assert.ok(seenBeforeEnd.length >= 2, `outputs seen before the result: ${seenBeforeEnd.length}`);
  });

  test("console.error and process.stderr go to stderr, console.table is formatted", async () => {
    const run = await runCell(client, 'console.error("bad"); process.stderr.write("raw\\n"); console.table([{ a: 1 }]);');
    assertOk(run, "stderr");
    const stderr = run.outputs.flatMap((o) => o.items).filter((i) => i.mime === "application/vnd.code.notebook.stderr").map((i) => i.data).join("");
    assert.equal(stderr, "bad\nraw\n");
    assert.match(run.text, /│ \(index\) │ a │/);
  });

  // Rich outputs: each row's code is displayed; items are what the notebook stores.
  const rich: { name: string; code: string; items: { mime: string; data: unknown }[] }[] = [
    { name: "steer.html", code: 'steer.html("<i>x</i>")', items: [{ mime: "text/html", data: "<i>x</i>" }] },
    { name: "steer.svg", code: 'steer.svg("<svg/>")', items: [{ mime: "image/svg+xml", data: "<svg/>" }] },
    { name: "steer.json", code: "steer.json([1, { b: 2 }])", items: [{ mime: "application/json", data: [1, { b: 2 }] }] },
    { name: "steer.png from bytes -> base64", code: `steer.png(new Uint8Array(${JSON.stringify(PNG_BYTES)}))`, items: [{ mime: "image/png", data: PNG_BASE64 }] },
    { name: "PNG bytes recognised without a helper", code: `Buffer.from(${JSON.stringify(PNG_BYTES)})`, items: [{ mime: "image/png", data: PNG_BASE64 }] },
    {
      name: "toSteerOutput returning one item",
      code: 'class Heat { toSteerOutput() { return { mime: "application/vnd.steer.heatmap+json", data: { rows: 2 } }; } }\nnew Heat()',
      items: [{ mime: "application/vnd.steer.heatmap+json", data: { rows: 2 } }],
    },
    {
      name: "toSteerOutput returning several representations",
      code: '({ toSteerOutput: () => ({ items: [{ mime: "application/vnd.steer.tokens+json", data: ["a"] }, { mime: "text/plain", data: "a" }] }) })',
      items: [{ mime: "application/vnd.steer.tokens+json", data: ["a"] }, { mime: "text/plain", data: "a" }],
    },
    { name: "display with an explicit mime", code: 'display("# T", "text/markdown")', items: [{ mime: "text/markdown", data: "# T" }] },
    { name: "display of a string", code: 'display("plain")', items: [{ mime: "text/plain", data: "plain" }] },
  ];
  for (const row of rich) {
    test(`rich output: ${row.name}`, async () => {
      const run = await runCell(client, row.code);
      assertOk(run, row.code);
      assert.deepEqual(run.outputs.flatMap((o) => o.items), row.items);
    });
  }

  test("a bad toSteerOutput fails the cell with a message saying what it must return", async () => {
    const run = await runCell(client, "({ toSteerOutput: () => 42 })");
    assert.equal(run.outcome.status, "error");
    assert.match((run.outcome as { error: { message: string } }).error.message, /toSteerOutput\(\) must return/);
  });

  // Errors point at the cell's TypeScript lines: types, interfaces and blank lines come before the
  // throw, so a JavaScript line number would be wrong.
  const errors: { name: string; code: string; error: string; frames: string[] }[] = [
    {
      name: "throw after types and blank lines",
      code: "interface Row { id: number }\n\nconst rows: Row[] = [];\n\n\nthrow new RangeError(`no rows: ${rows.length}`);",
      error: "RangeError: no rows: 0",
      frames: ["at cell-N.ts:6:7"],
    },
    {
      name: "error inside a typed function, called from a later line",
      code: "type N = number;\nfunction inner(n: N): N {\n  const obj: any = undefined;\n  return obj.field + n;\n}\n\nfunction outer(): void { inner(1); }\nouter();",
      error: "TypeError: Cannot read properties of undefined (reading 'field')",
      frames: ["at inner (cell-N.ts:4:14)", "at outer (cell-N.ts:7:26)", "at cell-N.ts:8:1"],
    },
    {
      name: "rejection after an await",
      code: "const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));\nawait wait(5);\n\nthrow new Error('after await');",
      error: "Error: after await",
      frames: ["at cell-N.ts:4:7"],
    },
    { name: "syntax error", code: "const ok = 1;\nlet = = 2;", error: "SyntaxError: Unexpected \"=\"", frames: ["at cell-N.ts:2:7"] },
  ];
  for (const row of errors) {
    test(`error stack: ${row.name}`, async () => {
      const run = await runCell(client, row.code);
      assert.equal(run.outcome.status, "error");
      const error = (run.outcome as { error: { name: string; message: string; stack?: string } }).error;
      assert.equal(`${error.name}: ${error.message}`, row.error);
      const lines = (error.stack ?? "").split("\n");
      const cellIndex = /cell-(\d+)\.ts/.exec(error.stack ?? "")?.[1] ?? "?";
      assert.equal(lines[0], row.error);
      assert.deepEqual(lines.slice(1).map((l) => l.trim()), row.frames.map((f) => f.replace("cell-N", `cell-${cellIndex}`)));
    });
  }

  test("node built-ins, require, and packages beside the notebook", async () => {
    const dir = mkdtempSync(join(tmpdir(), "steer-nb-modules-"));
    try {
      writeFileSync(join(dir, "helper.cjs"), "module.exports = { triple: (n) => n * 3 };\n");
      writeFileSync(join(dir, "esm-helper.mjs"), "export const twice = (n) => n * 2;\n");
      writeFileSync(join(dir, "data.txt"), "beside the notebook");
      const notebookPath = join(dir, "nb.steer-nb");
      const code = [
        'import fs from "node:fs";',
        'import { triple } from "./helper.cjs";',
        'const { twice } = await import("./esm-helper.mjs");',
        'const os = require("os");',
        'console.log(fs.readFileSync(__dirname + "/data.txt", "utf8"), triple(2), twice(5), typeof os.cpus, require("./helper.cjs").triple(1));',
      ].join("\n");
      const run = await runCell(client, code, { notebookPath });
      assertOk(run, code);
      assert.equal(run.text, "beside the notebook 6 10 function 3\n");
      const missing = await runCell(client, 'import "not-installed-pkg";', { notebookPath });
      assert.equal(missing.outcome.status, "error");
      assert.match((missing.outcome as { error: { message: string } }).error.message, /Cannot find module "not-installed-pkg" from .*npm install not-installed-pkg/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("renderer messages reach cell handlers and their replies reach the host", async () => {
    const setup = 'steer.onRendererMessage("click", (e) => e.reply({ type: "clicked", cell: e.message.cell, from: e.rendererId }));';
    assertOk(await runCell(client, setup), setup);
    const reply = new Promise<{ rendererId: string; message: unknown }>((resolve) => {
      const sub = client.onDidReceiveRendererMessage((m) => {
        sub.dispose();
        resolve(m);
      });
    });
    assert.equal(client.postRendererMessage("heatmap", { type: "click", cell: [1, 2] }), true);
    assert.deepEqual(await reply, { rendererId: "heatmap", message: { type: "clicked", cell: [1, 2], from: "heatmap" } });
  });
});
