// Outputs that update in place, through the real kernel: display(value, { id }) and its handle, the
// progress line, and the progress bar the toolkit's sweeps show when a cell runs them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KernelClient } from "../../src/host";
import { displayIdOf, isProgressOutput, placeOutput, VIEW_MIMES, type CellOutput } from "../../src/protocol";
import { ioi } from "../lens/helpers";
import { errorOf, newClient, textOf } from "./harness";

interface Sent {
  output: CellOutput;
  replace: boolean;
}

interface LiveRun {
  /** Every output message as the host received it. */
  sent: Sent[];
  /** The cell's outputs once each replacement took its place, as the extension and the CLI keep them. */
  outputs: CellOutput[];
}

let nextCell = 1;

async function run(client: KernelClient, code: string): Promise<LiveRun> {
  const sent: Sent[] = [];
  const outputs: CellOutput[] = [];
  const cellIndex = nextCell++;
  const outcome = await client.execute({ cellId: `c${cellIndex}`, cellIndex, code }, (output, replace) => {
    sent.push({ output, replace });
    placeOutput(outputs, output, replace);
  });
  assert.equal(outcome.status, "ok", `cell failed: ${errorOf(outcome)}\n--- code ---\n${code}`);
  return { sent, outputs };
}

function plain(output: CellOutput | undefined): string {
  return String(output?.items.find((i) => i.mime === "text/plain")?.data);
}

describe("display ids and progress", { timeout: 120_000 }, () => {
  let client: KernelClient;
  before(() => (client = newClient()));
  after(() => client.dispose());

  test("two displays with one id make one output holding the second value", async () => {
    const r = await run(client, 'display("first", { id: "status" });\nconsole.log("between");\ndisplay("second", { id: "status" });');
    assert.deepEqual(
      r.sent.map((s) => [displayIdOf(s.output), s.replace]),
      [["status", false], [undefined, false], ["status", true]],
      "the first display appends, the second replaces",
    );
    assert.equal(r.outputs.length, 2, `expected the display and the console line, got ${JSON.stringify(r.outputs)}`);
    assert.deepEqual(r.outputs[0], { items: [{ mime: "text/plain", data: "second" }], metadata: { displayId: "status" } });
    assert.equal(textOf([r.outputs[1]]), "between\n");
  });

  test("the handle updates its output with the display's mime, and is not shown as the cell's value", async () => {
    const r = await run(client, 'const h = display("<b>1</b>", { id: "n", mime: "text/html" });\nh.update("<b>2</b>");\nh');
    assert.equal(r.sent.length, 2, `expected 2 messages (display, update), got ${r.sent.length}`);
    assert.deepEqual(r.outputs, [{ items: [{ mime: "text/html", data: "<b>2</b>" }], metadata: { displayId: "n" } }]);
  });

  test("ids are per cell run: the same id in the next cell appends afresh; display(value, mime) still works", async () => {
    const r = await run(client, 'display("again", { id: "status" });\ndisplay("<i>x</i>", "text/html");');
    assert.deepEqual(r.sent.map((s) => s.replace), [false, false]);
    assert.deepEqual(r.outputs.map((o) => o.items[0]), [{ mime: "text/plain", data: "again" }, { mime: "text/html", data: "<i>x</i>" }]);
  });

  test("a bad id or total fails with the problem and the fix", async () => {
    for (const [code, expected] of [
      ['display(1, { id: "" })', /display's id must be a non-empty string/],
      ["steer.progress(0)", /progress total must be the number of steps, a positive integer, got 0/],
    ] as const) {
      const outcome = await client.execute({ cellId: "bad", cellIndex: 99, code }, () => {});
      assert.equal(outcome.status, "error", `${code}: expected an error, got ${outcome.status}`);
      assert.match(errorOf(outcome), expected);
    }
  });

  test("steer.progress advances one output and leaves a final 'done in N ms' line", async () => {
    const r = await run(client, 'const p = steer.progress(4, "steps");\nfor (let i = 1; i <= 4; i++) { await new Promise((ok) => setTimeout(ok, 120)); p.update(i); }\np.done();\np');
    assert.equal(r.outputs.length, 1, `one output, got ${r.outputs.length}`);
    assert.match(plain(r.outputs[0]), /^steps: 4\/4 \(100%\) done in \d+ ms$/);
    assert.match(String(r.outputs[0].items.find((i) => i.mime === "text/html")?.data), /width:100%.*var\(--vscode-progressBar-background/);
    // 0/4, then each step 120 ms apart (past the 100 ms throttle), then the final line.
    assert.deepEqual(r.sent.map((s) => plain(s.output).replace(/ done in \d+ ms/, " done")), [
      "steps: 0/4 (0%)",
      "steps: 1/4 (25%)",
      "steps: 2/4 (50%)",
      "steps: 3/4 (75%)",
      "steps: 4/4 (100%)",
      "steps: 4/4 (100%) done",
    ]);
    assert.deepEqual(r.sent.map((s) => s.replace), [false, true, true, true, true, true]);
  });

  test("a head sweep on the bundled model shows a progress bar that ends in its final state", async () => {
    const code = [
      "const model = await steer.load();",
      `const sweep = await steer.patch.heads(model, { clean: ${JSON.stringify(ioi.clean)}, corrupt: ${JSON.stringify(ioi.corrupt)}, metric: steer.metrics.logitDiff(" Mary", " John"), positions: "each" });`,
      "sweep",
    ].join("\n");
    const r = await run(client, code);
    const progress = r.sent.filter((s) => isProgressOutput(s.output));
    assert.ok(progress.length >= 2, `expected a first state and a final one, got ${progress.length} progress messages`);
    assert.deepEqual(progress.map((s) => s.replace), [false, ...progress.slice(1).map(() => true)], "the first appends, the rest replace");
    assert.equal(new Set(progress.map((s) => displayIdOf(s.output))).size, 1, "one display id for the whole sweep");
    const counts = progress.map((s) => Number(/: (\d+)\//.exec(plain(s.output))?.[1]));
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), `counts never go back: ${counts.join(", ")}`);
    const final = r.outputs.filter((o) => displayIdOf(o) !== undefined);
    assert.equal(final.length, 1, `one progress output kept, got ${final.length}`);
    const [, total] = /: (\d+)\/(\d+)/.exec(plain(final[0])) ?? [];
    assert.match(plain(final[0]), new RegExp(`^head sweep: ${total}/${total} \\(100%\\) done in \\d+ ms$`));
    assert.ok(r.outputs.some((o) => o.items.some((i) => i.mime === VIEW_MIMES.heads)), "the heatmap is shown after the bar");
    console.log(`head sweep (positions "each"): progress messages at ${counts.join(", ")}; final: ${plain(final[0])}`);
  });

  test("a sweep that fails part way leaves its bar at the count reached, marked stopped", async () => {
    const code = [
      "const model = await steer.load();",
      "let calls = 0;",
      'const metric = (logits: Float32Array) => { if (++calls > 100) throw new Error("metric gave up"); return logits[0]; };',
      `await steer.patch.heads(model, { clean: ${JSON.stringify(ioi.clean)}, corrupt: ${JSON.stringify(ioi.corrupt)}, metric, positions: "each" });`,
    ].join("\n");
    const outputs: CellOutput[] = [];
    const outcome = await client.execute({ cellId: "stop", cellIndex: nextCell++, code }, (o, replace) => placeOutput(outputs, o, replace));
    assert.match(errorOf(outcome), /metric gave up/);
    const bar = plain(outputs.find((o) => displayIdOf(o) !== undefined));
    assert.match(bar, /^head sweep: \d+\/240 \(\d+%\) stopped after \d+ ms$/);
    const reached = Number(/: (\d+)\//.exec(bar)?.[1]);
    assert.ok(reached > 0 && reached < 240, `the bar shows the count reached before the failure (0 < n < 240), got ${reached}`);
    console.log(`failed sweep's bar: ${bar}`);
  });

  test("a sweep given its own onProgress shows no bar and calls it", async () => {
    const code = [
      "const model = await steer.load();",
      "const seen: number[] = [];",
      `await steer.patch.heads(model, { clean: ${JSON.stringify(ioi.clean)}, corrupt: ${JSON.stringify(ioi.corrupt)}, metric: steer.metrics.logitDiff(" Mary", " John"), onProgress: (done) => seen.push(done) });`,
      "seen.at(-1)",
    ].join("\n");
    const r = await run(client, code);
    assert.equal(r.sent.filter((s) => displayIdOf(s.output) !== undefined).length, 0, "no progress output");
    assert.equal(textOf(r.outputs), "16", "the user's onProgress saw all 16 heads");
  });
});
