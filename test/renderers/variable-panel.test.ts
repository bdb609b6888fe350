// The variables panel's page (renderers/variable-panel.ts) in chromium: a tensor slice drawn as a
// heatmap (every cell painted from its value, tooltips with the axis names), the slice stepper of a
// 3-D tensor posting the request for the neighbouring slice and drawing the answer, an error answer
// shown beside the view, a refresh the host sends unasked, 1-D tensors, a malformed payload, and a
// slice at the cap (2048 rows) that stays paintable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeTensor, TENSOR_VIEW_AXIS_CAP, VIEW_VALUE_CAP, type TensorSliceView, type VariableSliceAnswer } from "../../src/protocol/views";
import { paletteFor } from "../../webview/colour";
import { chromiumSkip, launch, type Harness } from "./browser";
import { assertDiverging, assertShown, probeGrid } from "./grid-probe";

const light = paletteFor("light", [255, 255, 255]);

function sliceView(name: string, shape: number[], dims: string[], slice: number[], values: number[]): TensorSliceView {
  const rows = shape.length >= 2 ? shape[shape.length - 2] : 1;
  const cols = shape[shape.length - 1];
  const where = slice.length ? ` at ${slice.map((k, i) => `${dims[i]} ${k}`).join(", ")}` : "";
  return { title: `${name}: Tensor [${dims.join(", ")}] ${shape.join("x")}${where}`, name, shape, dims, slice, values: encodeTensor([rows, cols], values) };
}

const ramp = (n: number, offset: number) => Array.from({ length: n }, (_, i) => (i - offset) / 4);

describe("variables panel", { skip: chromiumSkip }, () => {
  let b: Harness;
  before(async () => {
    b = await launch();
  });
  after(async () => {
    await b?.close();
  });

  test("a 2-D tensor: one painted cell per value, tooltips name the axes, no stepper", async () => {
    const values = ramp(15, 7);
    const payload = sliceView("grid", [3, 5], ["pos", "d_model"], [], values);
    const p = await b.open("variable-panel");
    const out = await p.render(payload);
    const root = out.locator(".steer-root.steer-variable");
    assert.equal(await root.getAttribute("data-name"), "grid");
    assert.equal(await out.locator(".steer-title").innerText(), "grid: Tensor [pos, d_model] 3x5");
    const cells = await probeGrid(p.page, "#output-1 .steer-grid");
    assert.equal(cells.length, 15, `expected 3 x 5 cells, got ${cells.length}`);
    for (const c of cells) {
      const v = values[c.row * 5 + c.col];
      const where = `cell [${c.row}, ${c.col}]`;
      assertDiverging(c.rgb, v, 7 / 4, light, where);
      const tip = Object.fromEntries(c.tip);
      assert.equal(tip.pos, String(c.row), `${where}: tooltip pos`);
      assert.equal(tip.d_model, String(c.col), `${where}: tooltip d_model`);
      assertShown(tip.value, v, where);
    }
    assert.equal(await out.locator(".steer-slice-stepper").count(), 0, "a 2-D tensor has no leading axes to step through");
    assert.deepEqual(p.errors, []);
    await p.shot("variable-panel-2d", out);
    await p.close();
  });

  test("a 3-D tensor: the stepper posts the next slice's request and draws the answer; an error answer shows beside the view", async () => {
    const shape = [4, 3, 5];
    const dims = ["head", "query_pos", "key_pos"];
    const p = await b.open("variable-panel", { theme: "dark" });
    const out = await p.render(sliceView('cache["blocks.3.attn.hook_pattern"]', shape, dims, [1], ramp(15, 0)));
    const root = out.locator(".steer-variable");
    assert.equal(await out.locator(".steer-slice-index[data-axis='0']").innerText(), "1");
    assert.equal(await out.locator(".steer-grid").getAttribute("data-rows"), "3");

    await out.locator("vscode-button[data-action=next-0]").click();
    const req = await p.nextPosted(0);
    assert.deepEqual({ ...req, requestId: "" }, { type: "steer.variable-slice", requestId: "", name: 'cache["blocks.3.attn.hook_pattern"]', slice: [2] });
    assert.equal(await root.getAttribute("data-state"), "loading");

    const next = ramp(15, 14);
    const answer: VariableSliceAnswer = { type: "steer.variable-view", requestId: req.requestId, outcome: { ok: true, view: sliceView(req.name, shape, dims, [2], next) } };
    await p.deliver(answer);
    await out.locator(".steer-variable[data-slice='2']").waitFor();
    assert.equal(await out.locator(".steer-slice-index[data-axis='0']").innerText(), "2");
    const cells = await probeGrid(p.page, "#output-1 .steer-grid");
    const dark = paletteFor("dark", [31, 31, 31]);
    for (const c of cells) assertDiverging(c.rgb, next[c.row * 5 + c.col], 14 / 4, dark, `slice 2 cell [${c.row}, ${c.col}]`);
    assert.equal(Object.fromEntries(cells[7].tip).head, "2", "the tooltip names the leading index");

    await out.locator("vscode-button[data-action=prev-0]").click();
    const back = await p.nextPosted(1);
    assert.deepEqual(back.slice, [1]);
    await p.deliver({ type: "steer.variable-view", requestId: back.requestId, outcome: { ok: false, message: "No variable \"cache\" in the kernel." } } satisfies VariableSliceAnswer);
    await out.locator(".steer-slice-status.steer-error").waitFor();
    assert.equal(await out.locator(".steer-slice-status").innerText(), "No variable \"cache\" in the kernel.");
    assert.equal(await root.getAttribute("data-state"), "failed", "no longer loading; the grid is dimmed");
    assert.equal(await out.locator("vscode-button[data-action=prev-0]").getAttribute("disabled"), null, "the stepper works again");

    // After a cell ran the host sends the variable again, unasked.
    const refreshed = sliceView(req.name, [6, 3, 5], dims, [2], ramp(15, 3));
    await p.deliver({ type: "steer.variable-view", outcome: { ok: true, view: refreshed } } satisfies VariableSliceAnswer);
    await out.locator(".steer-title", { hasText: "6x3x5" }).waitFor();
    await p.shot("variable-panel-3d-dark", out);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("at the first and last index the stepper's buttons are disabled", async () => {
    const p = await b.open("variable-panel");
    const out = await p.render(sliceView("cube", [2, 2, 3, 4], ["a", "b", "c", "d"], [0, 1], ramp(12, 6)));
    assert.notEqual(await out.locator("vscode-button[data-action=prev-0]").getAttribute("disabled"), null);
    assert.equal(await out.locator("vscode-button[data-action=next-0]").getAttribute("disabled"), null);
    assert.equal(await out.locator("vscode-button[data-action=prev-1]").getAttribute("disabled"), null);
    assert.notEqual(await out.locator("vscode-button[data-action=next-1]").getAttribute("disabled"), null);
    await out.locator("vscode-button[data-action=next-0]").click();
    assert.deepEqual((await p.nextPosted(0)).slice, [1, 1], "the other axis keeps its index");
    await p.close();
  });

  test("a 1-D tensor is one row; a malformed payload says what is wrong", async () => {
    const p = await b.open("variable-panel");
    const out = await p.render(sliceView("vec", [7], ["d"], [], ramp(7, 3)));
    const grid = out.locator(".steer-grid");
    assert.deepEqual([await grid.getAttribute("data-rows"), await grid.getAttribute("data-cols")], ["1", "7"]);
    const bad = await p.render({ ...sliceView("vec", [7], ["d"], [], ramp(7, 3)), slice: [0] });
    assert.match(await bad.locator(".steer-error").innerText(), /Cannot show this tensor: slice must give 0 indices for shape \[7\], got \[0\]/);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("a slice at the cap (2048 rows) keeps its canvas paintable and shows the reduction note", async () => {
    const cols = Math.floor(VIEW_VALUE_CAP / TENSOR_VIEW_AXIS_CAP);
    const rows = TENSOR_VIEW_AXIS_CAP;
    const payload = { ...sliceView("big", [rows, cols], ["r", "c"], [], Array.from({ length: rows * cols }, (_, i) => Math.sin(i))), reduced: "showing the first 2048 of 3000 r rows" };
    const p = await b.open("variable-panel");
    const started = Date.now();
    const out = await p.render(payload);
    const ms = Date.now() - started;
    const canvas = out.locator(".steer-grid canvas");
    const [width, height] = await canvas.evaluate((c) => [(c as any).width as number, (c as any).height as number]);
    assert.ok(height > 0 && height <= 32_000 && width <= 32_000, `canvas ${width} x ${height} px must stay under 32k per edge`);
    assert.match(await out.locator(".steer-reduced").innerText(), /Reduced: showing the first 2048 of 3000 r rows/);
    assert.deepEqual(p.errors, []);
    console.log(`# ${rows} x ${cols} slice rendered in ${ms} ms, canvas ${width} x ${height}`);
    await p.close();
  });
});
