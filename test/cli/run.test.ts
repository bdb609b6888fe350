// `steer-nb run` end to end: the built CLI (bin/steer-nb.js -> dist/cli.js) on fixture notebooks.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseNotebook } from "../../src/protocol";

const repoRoot = resolve(__dirname, "../..");
const bin = join(repoRoot, "bin", "steer-nb.js");
const fixtures = join(repoRoot, "test", "fixtures", "notebooks");

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("steer-nb run", { timeout: 120_000 }, () => {
  let dir: string;
  before(() => {
    if (!existsSync(join(repoRoot, "dist", "cli.js"))) throw new Error("dist/cli.js is missing: run `npm run build` before the CLI tests.");
    dir = mkdtempSync(join(tmpdir(), "steer-nb-cli-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("runs every code cell, prints a line per cell, writes outputs to --out and leaves the input alone", () => {
    const input = join(fixtures, "basic.steer-nb");
    const before = readFileSync(input, "utf8");
    const out = join(dir, "basic.out.steer-nb");
    const r = cli(["run", input, "--out", out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cell 2 ok \d+ ms\n  hello from cell 2\ncell 3 ok \d+ ms\n[\s\S]*cell 4 skipped \(language python\)\n2 code cells ran\./);
    assert.match(cli(["run", input, "--out", out, "--quiet"]).stdout, /^cell 2 ok \d+ ms\ncell 3 ok \d+ ms\ncell 4 skipped \(language python\)\n2 code cells ran\./);
    assert.equal(readFileSync(input, "utf8"), before);
    const nb = parseNotebook(readFileSync(out, "utf8"), out);
    const [, second, third] = nb.cells;
    assert.deepEqual(second.outputs, [{ items: [{ mime: "application/vnd.code.notebook.stdout", data: "hello from cell 2\n" }], metadata: { stream: "stdout" } }]);
    assert.deepEqual(
      third.outputs.map((o) => o.items[0]),
      [
        { mime: "text/html", data: "<b>bold</b>" },
        { mime: "application/json", data: { cells: 4, greeting: "hello" } },
      ],
    );
    assert.deepEqual([second.execution?.order, second.execution?.success, third.execution?.order, third.execution?.success], [1, true, 2, true]);
    assert.equal(typeof third.execution?.durationMs, "number");
    assert.equal(nb.metadata.title, "runner fixture", "notebook metadata survives");
  });

  test("stops at the first failing cell, names it, exits 1; later cells keep their old outputs", () => {
    const out = join(dir, "failing.out.steer-nb");
    const r = cli(["run", join(fixtures, "failing.steer-nb"), "--out", out]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^cell 1 ok \d+ ms\n {2}limit 3\ncell 2 FAILED: TypeError: too many sides: 5\n    at check \(cell-2\.ts:4:30\)\n    at cell-2\.ts:6:1\n$/);
    assert.match(r.stderr, /stopped at cell 2: TypeError: too many sides: 5/);
    const nb = parseNotebook(readFileSync(out, "utf8"), out);
    assert.deepEqual(nb.cells[1].outputs, [
      {
        items: [
          {
            mime: "application/vnd.code.notebook.error",
            data: { name: "TypeError", message: "too many sides: 5", stack: "TypeError: too many sides: 5\n    at check (cell-2.ts:4:30)\n    at cell-2.ts:6:1" },
          },
        ],
      },
    ]);
    assert.equal(nb.cells[1].execution?.success, false);
    assert.deepEqual(nb.cells[2].outputs, [{ items: [{ mime: "text/plain", data: "old output" }] }]);
    assert.deepEqual(nb.cells[2].execution, { order: 7, success: true, durationMs: 1 });
  });

  test("prints a one-line summary of each toolkit view, and the text the cell printed", () => {
    const nb = join(dir, "views.steer-nb");
    const code = [
      "const model = await steer.load();",
      'const sweep = await steer.patch.heads(model, { clean: "When Mary and John went to the store, John gave a drink to", corrupt: "When Mary and John went to the store, Mary gave a drink to", metric: steer.metrics.logitDiff(" Mary", " John") });',
      "console.log(sweep.top(1)[0].name);",
      "sweep",
    ].join("\n");
    writeFileSync(nb, JSON.stringify({ format: "steer-nb/1", cells: [{ kind: "code", source: code }] }));
    const r = cli(["run", nb]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cell 1 ok \d+ ms\n {2}a3\.h2\n {2}\[head heatmap 4x4, top a3\.h2 1\]\n/);
  });

  test("outputs with a display id: progress on stderr, only the final state in the notebook, stdout as before", () => {
    const nb = join(dir, "progress.steer-nb");
    const code = [
      'for (let i = 1; i <= 3; i++) { display(`step ${i}`, { id: "status" }); await new Promise((ok) => setTimeout(ok, 250)); }',
      "const model = await steer.load();",
      'await steer.patch.heads(model, { clean: "When Mary and John went to the store, John gave a drink to", corrupt: "When Mary and John went to the store, Mary gave a drink to", metric: steer.metrics.logitDiff(" Mary", " John") });',
      'console.log("end");',
    ].join("\n");
    writeFileSync(nb, JSON.stringify({ format: "steer-nb/1", cells: [{ kind: "code", source: code }] }));
    const r = cli(["run", nb]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^step 1\nstep 2\nstep 3\nhead sweep: 16\/16 \(100%\)[^\n]*\n/, "each update 250 ms apart is printed; the sweep's last state is");
    assert.match(r.stderr, /head sweep: 16\/16 \(100%\) done in \d+ ms\n/);
    assert.match(r.stdout, /^cell 1 ok \d+ ms\n {2}end\n1 code cell ran\./, "stdout lists the other outputs only");
    const outputs = parseNotebook(readFileSync(nb, "utf8")).cells[0].outputs;
    const live = outputs.filter((o) => o.metadata?.displayId !== undefined).map((o) => o.items.find((i) => i.mime === "text/plain")?.data);
    assert.equal(live.length, 2, `one output per id (status, the sweep's bar), got ${JSON.stringify(live)}`);
    assert.equal(live[0], "step 3");
    assert.match(String(live[1]), /^head sweep: 16\/16 \(100%\) done in \d+ ms$/);
  });

  test("writes in place without --out", () => {
    const copy = join(dir, "in-place.steer-nb");
    copyFileSync(join(fixtures, "basic.steer-nb"), copy);
    assert.equal(cli(["run", copy]).status, 0);
    assert.equal(parseNotebook(readFileSync(copy, "utf8")).cells[1].execution?.success, true);
  });

  test("--timeout interrupts a busy cell and fails it", () => {
    const out = join(dir, "busy.out.steer-nb");
    const r = cli(["run", join(fixtures, "busy.steer-nb"), "--out", out, "--timeout", "1"]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /cell 2 FAILED: TimeoutError: Cell 2 ran longer than its 1 s limit and was interrupted\./);
    assert.equal(parseNotebook(readFileSync(out, "utf8")).cells[1].execution?.success, false);
  });

  test("a corrupt notebook gives its format error, exit 2, and the file is untouched", () => {
    const copy = join(dir, "corrupt.steer-nb");
    copyFileSync(join(fixtures, "corrupt.steer-nb"), copy);
    const before = readFileSync(copy);
    const r = cli(["run", copy]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /corrupt\.steer-nb:6:5: invalid JSON: .*\nThe file was not changed\./);
    assert.deepEqual(readFileSync(copy), before);
  });

  // Usage errors: exit 2 with a message naming the problem.
  const usage: { args: string[]; status: number; stream: "stdout" | "stderr"; text: RegExp }[] = [
    { args: [], status: 2, stream: "stderr", text: /Usage: steer-nb <command>/ },
    { args: ["--help"], status: 0, stream: "stdout", text: /Commands:\n {2}run +Run every code cell/ },
    { args: ["run", "--help"], status: 0, stream: "stdout", text: /Usage: steer-nb run <notebook\.steer-nb> \[--out <file>\] \[--timeout <seconds>\]/ },
    { args: ["help", "run"], status: 0, stream: "stdout", text: /--timeout <secs>/ },
    { args: ["frobnicate"], status: 2, stream: "stderr", text: /unknown command "frobnicate"\. Commands: run/ },
    { args: ["run"], status: 2, stream: "stderr", text: /missing the notebook to run/ },
    { args: ["run", "a.steer-nb", "b.steer-nb"], status: 2, stream: "stderr", text: /expected one notebook, got 2/ },
    { args: ["run", "x.steer-nb", "--bogus"], status: 2, stream: "stderr", text: /Unknown option '--bogus'/ },
    { args: ["run", "x.steer-nb", "--timeout", "soon"], status: 2, stream: "stderr", text: /--timeout takes a positive number of seconds, got "soon"/ },
    { args: ["run", "does-not-exist.steer-nb"], status: 2, stream: "stderr", text: /does-not-exist\.steer-nb: no such file/ },
  ];
  for (const row of usage) {
    test(`steer-nb ${row.args.join(" ")} -> exit ${row.status}`, () => {
      const r = cli(row.args);
      assert.equal(r.status, row.status, r.stderr);
      assert.match(r[row.stream], row.text);
    });
  }
});
