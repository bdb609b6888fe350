/** Names of circuit exports: after the notebook and the cell, with the kernel's name made safe. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { exportFileName } from "../../src/extension/circuit-export-name";

test("an export is named after the notebook and the cell (1-based), then the kernel's name", () => {
  assert.equal(exportFileName("/work/nbs/ioi.steer-nb", 2, "svg", "circuit.svg"), "ioi.cell3.circuit.svg");
  assert.equal(exportFileName("C:\\nbs\\ioi.steer-nb", 0, "json", "circuit.json"), "ioi.cell1.circuit.json");
  assert.equal(exportFileName("/nbs/ioi.steer-nb", undefined, "png", "circuit.png"), "ioi.circuit.png", "no cell found: no cell part");
});

test("the format's extension is added when the kernel's name lacks it", () => {
  assert.equal(exportFileName("/nbs/a.steer-nb", 0, "mermaid", "circuit"), "a.cell1.circuit.mmd");
  assert.equal(exportFileName("/nbs/a.steer-nb", 0, "dot", ""), "a.cell1.circuit.dot");
});

test("a hostile name from the kernel cannot leave the notebook's folder", () => {
  assert.equal(exportFileName("/nbs/a.steer-nb", 0, "svg", "../../etc/passwd"), "a.cell1.passwd.svg");
  assert.equal(exportFileName("/nbs/a.steer-nb", 0, "svg", "..\\..\\x y$.svg"), "a.cell1.x_y_.svg");
  assert.equal(exportFileName("/nbs/a.steer-nb", 0, "svg", ".."), "a.cell1.circuit.svg");
});
