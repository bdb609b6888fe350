// The sample list the "Open Sample Notebook" picker shows, copy names, and the "New Notebook" content.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { parseNotebook, serializeNotebook } from "../../src/protocol";
import { freeFileName, listSamples, NEW_NOTEBOOK_LOAD, newNotebook, newNotebookText } from "../../src/extension/samples";

const repoRoot = resolve(__dirname, "../..");

test("the repository's samples are listed with their titles, getting started first", () => {
  const samples = listSamples(repoRoot);
  assert.deepEqual(
    samples.map((s) => [s.file, s.title]),
    [
      ["getting-started.steer-nb", "Getting started"],
      ["indirect-object.steer-nb", "Indirect object identification"],
      ["induction.steer-nb", "Induction heads"],
      ["massive-activations.steer-nb", "Massive activations and the attention sink"],
      ["steering.steer-nb", "Steering vectors"],
    ],
  );
  for (const s of samples) {
    assert.equal(s.path, join(repoRoot, "samples", s.file));
    assert.ok(s.description.length > 40 && !s.description.includes("\n") && !s.description.startsWith("#"), `${s.file}: expected a one-line description, got ${JSON.stringify(s.description)}`);
  }
  assert.match(samples.find((s) => s.file === "induction.steer-nb")!.description, /^An induction head completes a pattern/);
});

test("a sample without a title is listed by its file name; a folder without samples is a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "steer-samples-"));
  try {
    mkdirSync(join(dir, "samples"));
    writeFileSync(join(dir, "samples", "plain.steer-nb"), serializeNotebook({ format: "steer-nb/1", metadata: {}, cells: [] }));
    writeFileSync(join(dir, "samples", "notes.txt"), "not a notebook");
    assert.deepEqual(listSamples(dir).map((s) => [s.file, s.title, s.description]), [["plain.steer-nb", "plain", ""]]);
    assert.throws(() => listSamples(join(dir, "nowhere")), /No samples folder at .*nowhere.*reinstall/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a copy takes a free name and never an existing one", () => {
  assert.equal(freeFileName("induction.steer-nb", new Set(["other.steer-nb"])), "induction.steer-nb");
  assert.equal(freeFileName("induction.steer-nb", new Set(["induction.steer-nb"])), "induction-2.steer-nb");
  assert.equal(freeFileName("induction.steer-nb", new Set(["induction.steer-nb", "induction-2.steer-nb"])), "induction-3.steer-nb");
});

test("a new notebook is a markdown cell and a code cell that loads the bundled model, and its text is byte-stable", () => {
  const nb = newNotebook();
  assert.deepEqual(nb.cells.map((c) => c.kind), ["markdown", "code"]);
  assert.ok(nb.cells[1].source.startsWith(`${NEW_NOTEBOOK_LOAD}\n`), `code cell: expected to start with the load line, got ${JSON.stringify(nb.cells[1].source)}`);
  assert.equal(NEW_NOTEBOOK_LOAD, "const model = await steer.load(); // the notebook's model (Steer: Select Model), else the bundled one");
  const text = newNotebookText();
  assert.equal(serializeNotebook(parseNotebook(text)), text);
  assert.deepEqual(parseNotebook(text), nb);
});
