// Every shipped sample notebook, run headless through the built CLI on the bundled model: every code cell
// succeeds and shows something, the planted truth comes out, and the numbers the markdown states are printed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseNotebook, type NotebookCellData, type NotebookData } from "../../src/protocol";

const repoRoot = resolve(__dirname, "../..");
const samplesDir = join(repoRoot, "samples");
const samples = readdirSync(samplesDir).filter((f) => f.endsWith(".steer-nb")).sort();

const source = (cell: NotebookCellData) => cell.source;

/** Every string an output carries (text, markdown, stdout, JSON), and each view's one-line summary. */
function printed(cell: NotebookCellData): string {
  return cell.outputs
    .flatMap((o) => [...o.items.map((i) => (typeof i.data === "string" ? i.data : JSON.stringify(i.data))), String(o.metadata?.summary ?? "")])
    .join("\n");
}

function cellWith(nb: NotebookData, fragment: string): NotebookCellData {
  const cell = nb.cells.find((c) => c.kind === "code" && source(c).includes(fragment));
  assert.ok(cell, `expected a code cell containing ${JSON.stringify(fragment)}, found none`);
  return cell;
}

/** The cell's value as JSON (the application/json item of its last output). */
function value(cell: NotebookCellData): Record<string, unknown> {
  const item = cell.outputs.at(-1)?.items.find((i) => i.mime === "application/json");
  assert.ok(item, `expected the cell ending ${JSON.stringify(source(cell).slice(-60))} to show a JSON value, got mimes ${cell.outputs.at(-1)?.items.map((i) => i.mime)}`);
  return item.data as Record<string, unknown>;
}

describe("sample notebooks", { timeout: 120_000 }, () => {
  let dir: string;
  const ran = new Map<string, NotebookData>();
  before(() => {
    if (!existsSync(join(repoRoot, "dist", "cli.js"))) throw new Error("dist/cli.js is missing: run `npm run build` before the sample tests.");
    dir = mkdtempSync(join(tmpdir(), "steer-nb-samples-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (name: string): NotebookData => {
    const done = ran.get(name);
    if (done) return done;
    const out = join(dir, name);
    const r = spawnSync(process.execPath, [join(repoRoot, "bin", "steer-nb.js"), "run", join(samplesDir, name), "--out", out, "--quiet"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, `expected ${name} to run to the end, got exit ${r.status}:\n${r.stdout}\n${r.stderr}`);
    const nb = parseNotebook(readFileSync(out, "utf8"), out);
    ran.set(name, nb);
    return nb;
  };

  test("the expected samples are shipped", () => {
    for (const name of ["getting-started", "induction", "indirect-object", "massive-activations", "steering"])
      assert.ok(samples.includes(`${name}.steer-nb`), `expected samples/${name}.steer-nb, found ${samples.join(", ")}`);
  });

  for (const name of samples) {
    test(`${name}: every code cell succeeds and shows output; every decimal the markdown states is printed`, () => {
      const nb = run(name);
      assert.equal(typeof nb.metadata.title, "string", `${name}: expected a metadata.title (the sample picker shows it)`);
      const code = nb.cells.filter((c) => c.kind === "code");
      assert.ok(code.length >= 3, `${name}: expected at least 3 code cells, got ${code.length}`);
      code.forEach((c, i) => {
        assert.equal(c.execution?.success, true, `${name}: code cell ${i + 1} expected success, got ${JSON.stringify(c.execution)}`);
        assert.ok(c.outputs.length >= 1, `${name}: code cell ${i + 1} expected at least one output, got none`);
      });
      const all = code.map(printed).join("\n");
      const stated = nb.cells.filter((c) => c.kind === "markdown").flatMap((c) => source(c).match(/-?\d+\.\d+/g) ?? []);
      const missing = [...new Set(stated)].filter((x) => !all.includes(x));
      assert.deepEqual(missing, [], `${name}: numbers in the markdown that no cell printed`);
    });
  }

  test("induction: the detectors find the planted heads and ablating either breaks induction", () => {
    const nb = run("induction.steer-nb");
    const top = value(cellWith(nb, "steer.heads.detect")) as { previousToken: string[]; induction: string[] };
    assert.match(top.previousToken[0], /^a0\.h2 /, `previous-token top head: expected a0.h2, got ${top.previousToken[0]}`);
    assert.match(top.induction[0], /^a1\.h3 /, `induction top head: expected a1.h3, got ${top.induction[0]}`);
    const table = printed(cellWith(nb, "induction accuracy"));
    const pct = (row: string) => Number(new RegExp(`\\| ${row}[^|]* \\| ([\\d.]+)%`).exec(table)?.[1]);
    assert.equal(pct("none"), 100, `intact accuracy: expected 100%, got ${pct("none")}% in\n${table}`);
    for (const head of ["a0.h2", "a1.h3"]) assert.ok(pct(head) < 10, `accuracy with ${head} zeroed: expected under 10%, got ${pct(head)}%`);
  });

  test("indirect-object: patching, path patching and discovery recover the planted circuit", () => {
    const nb = run("indirect-object.steer-nb");
    assert.match(printed(cellWith(nb, "steer.patch.heads(")), /^a3\.h2 1\.0\d\d, a2\.h1 1\.0\d\d/m, "head patching: expected the name mover and S-inhibition head first, near 1");
    assert.match(printed(cellWith(nb, "steer.patch.path(")), /^a2\.h1 1\.0\d\d/m, "path patching into a3.h2<q>: expected a2.h1 first, near 1");
    const circuit = value(cellWith(nb, "steer.circuit.discover")) as { faithfulness: string; edges: string[] };
    assert.deepEqual([...circuit.edges].sort(), ["a1.h0->a2.h1<k>", "a2.h1->a3.h2<q>", "a3.h2->logits", "input->a1.h0<q>", "input->a2.h1<v>"], "circuit edges");
    assert.ok(Number(circuit.faithfulness) > 0.95, `faithfulness: expected > 0.95, got ${circuit.faithfulness}`);
    assert.ok(cellWith(nb, "steer.circuit.discover").outputs.some((o) => o.items.some((i) => i.mime === "image/svg+xml")), "expected the circuit's SVG displayed");
    const fromGradients = value(cellWith(nb, 'method: "eap-ig", topN')) as { faithfulness: string; edges: string[] };
    for (const planted of circuit.edges) assert.ok(fromGradients.edges.includes(planted), `EAP-IG discovery: expected the planted edge ${planted} among ${fromGradients.edges.join(", ")}`);
    assert.match(printed(cellWith(nb, 'method: "eap-ig", steps')), /\| a2\.h1 \| 1\.000 \| -0\.0\d\d \| 1\.\d\d\d \|/, "EAP-IG: expected the S-inhibition head found (near 1 or above) where attribution patching gives about 0");
  });

  test("massive-activations: dim 128 on the first token, the sink, and zero against mean ablation", () => {
    const nb = run("massive-activations.steer-nb");
    assert.match(printed(cellWith(nb, "steer.massive.scan")), /"<s>\\?" dim 128: 400\.0/, "scan: expected 400.0 in dim 128 of the first token");
    const sink = value(cellWith(nb, "steer.heads.attention")) as { sinkOfA3H2: string };
    assert.ok(Number(sink.sinkOfA3H2) > 0.98, `a3.h2's attention on the sink: expected > 0.98, got ${sink.sinkOfA3H2}`);
    const lost = value(cellWith(nb, "runWithHooks")) as { firstTokenShare: string; withoutMassive: string };
    assert.ok(Number(lost.withoutMassive) < 0.5, `sink without the massive value: expected < 0.5, got ${lost.withoutMassive}`);
    const { zero, mean } = value(cellWith(nb, "steer.massive.ablate")) as { zero: string; mean: string };
    const losses = (s: string) => /loss ([\d.]+) -> ([\d.]+)/.exec(s)!.slice(1).map(Number);
    const [zb, za] = losses(zero);
    const [mb, ma] = losses(mean);
    assert.ok(za > 1.5 * zb, `zero ablation: expected the loss to rise by half at least, got ${zero}`);
    assert.equal(ma, mb, `mean ablation: expected the loss unchanged, got ${mean}`);
  });

  test("steering: the vector steers towards Mary and away, and the control vector reads back identical", () => {
    const nb = run("steering.steer-nb");
    const table = printed(cellWith(nb, "model.generate"));
    const row = (strength: number) => new RegExp(`\\| ${strength} \\| "([^"]*)" \\|`).exec(table)?.[1] ?? "";
    assert.doesNotMatch(row(0), /Mary|John/, `unsteered: expected no name, got ${row(0)}`);
    assert.match(row(8), /^(Mary ?)+$/, `strength 8: expected Mary throughout, got ${row(8)}`);
    assert.match(row(-16), /^(John ?)+$/, `strength -16: expected John throughout, got ${row(-16)}`);
    const file = value(cellWith(nb, "steer.steering.load")) as { layers: number[]; modelHint: string; maxDifference: number };
    assert.deepEqual(file, { layers: [1, 2, 3], modelHint: "gpt2", maxDifference: 0 });
  });
});
