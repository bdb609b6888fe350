// The positions heatmap renderer (renderers/positions.ts) in chromium: every [layer, pos] cell painted
// from its value and answering hover with its token, every token label as text, click and Enter
// posting a RerunRequest for target.cell, hostile tokens as text, and an 80x64 grid.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeTensor, type PositionsView } from "../../src/protocol/views";
import { paletteFor } from "../../webview/colour";
import { chromiumSkip, launch, loadFixture, type Harness, type RendererPage } from "./browser";
import { assertDiverging, assertShown, cellCentre, probeGrid } from "./grid-probe";
import { bigPositions, HOSTILE_TOKENS, values, shown } from "./payloads";

const light = paletteFor("light", [255, 255, 255]);

async function checkEveryCell(p: RendererPage, payload: PositionsView): Promise<number> {
  const v = values(payload);
  const [nL, nP] = payload.values.shape;
  const m = v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
  const cells = await probeGrid(p.page, "#output-1 .steer-grid");
  assert.equal(cells.length, nL * nP);
  for (const c of cells) {
    const x = v[c.row * nP + c.col];
    const where = `layer ${c.row} pos ${c.col}`;
    assertDiverging(c.rgb, x, m, light, where);
    const tip = Object.fromEntries(c.tip);
    assert.equal(tip.layer, String(c.row), `${where}: tooltip layer`);
    assert.equal(tip.position, String(c.col), `${where}: tooltip position`);
    assert.equal(tip.token, shown(payload.tokens[c.col]), `${where}: tooltip token`);
    assert.equal(tip.component, payload.component, `${where}: tooltip component`);
    assertShown(tip[payload.valueLabel], x, where);
  }
  return cells.length;
}

describe("positions heatmap renderer", { skip: chromiumSkip }, () => {
  let b: Harness;
  before(async () => {
    b = await launch();
  });
  after(async () => {
    await b?.close();
  });

  test("toy-model fixture: every cell and token label; click and Enter patch one cell", async () => {
    const payload = loadFixture<PositionsView>("positions");
    const p = await b.open("positions");
    const out = await p.render(payload);
    assert.equal(await checkEveryCell(p, payload), payload.values.shape[0] * payload.tokens.length);
    assert.deepEqual(await out.locator(".steer-collabels > span").allTextContents(), payload.tokens.map(shown));
    assert.deepEqual(await out.locator(".steer-rowlabels > span").allTextContents(), ["L0", "L1", "L2", "L3"]);
    const grid = out.locator(".steer-grid");
    const c = await cellCentre(grid, 2, 10);
    await p.page.mouse.click(c.x, c.y);
    const req = await p.nextPosted(0);
    assert.deepEqual({ ...req, requestId: "" }, {
      type: "steer.rerun", requestId: "", resultId: payload.rerun!.resultId, kernelSession: payload.rerun!.kernelSession,
      target: { cell: { layer: 2, pos: 10 } }, mode: "patch",
    });
    await p.deliver({ type: "steer.rerun-result", requestId: req.requestId, resultId: req.resultId, outcome: { ok: true, metricBefore: -13.4, metricAfter: 30.1, topBefore: [], topAfter: [{ token: " Mary", id: 1, prob: 0.9 }] } });
    await out.locator(".steer-patch[data-state=answered]").waitFor();
    assert.match(await out.locator(".steer-patch").innerText(), /resid_pre layer 2, position 10 +John \(patch\)[\s\S]*-13\.4[\s\S]*30\.1/);
    await p.page.keyboard.press("ArrowRight");
    await p.page.keyboard.press("ArrowDown");
    await p.page.keyboard.press("Enter");
    assert.deepEqual((await p.nextPosted(1)).target, { cell: { layer: 3, pos: 11 } });
    await p.page.keyboard.press("Shift+Enter");
    assert.deepEqual((await p.nextPosted(2)).target, { cell: { layer: 3, pos: 11 } }, "shift does not build sets here: one cell per request");
    await p.shot("positions");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hostile tokens render as text in labels and tooltips", async () => {
    const base = loadFixture<PositionsView>("positions");
    const n = HOSTILE_TOKENS.length;
    const payload: PositionsView = { ...base, tokens: HOSTILE_TOKENS, values: encodeTensor([4, n], Array.from({ length: 4 * n }, (_, i) => (i % 5) - 2)) };
    const p = await b.open("positions");
    await p.page.evaluate("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);");
    const out = await p.render(payload);
    assert.deepEqual(await out.locator(".steer-collabels > span").allTextContents(), HOSTILE_TOKENS.map(shown));
    await checkEveryCell(p, payload);
    const counts = await p.page.evaluate(`({ img: document.querySelectorAll("img").length, svg: document.querySelectorAll("svg").length, b: document.querySelectorAll("b").length,
      script: document.querySelectorAll("script").length, alerts: window.__alerts.length })`);
    assert.deepEqual(counts, { img: 0, svg: 0, b: 0, script: 1, alerts: 0 });
    await p.shot("positions-hostile");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("80 layers x 64 positions: every cell, one canvas", async () => {
    const payload = bigPositions(80, 64);
    const p = await b.open("positions", { viewport: { width: 1200, height: 900 }, theme: "dark" });
    const out = await p.render(payload);
    const v = values(payload);
    const m = v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
    const dark = paletteFor("dark", [31, 31, 31]);
    const cells = await probeGrid(p.page, "#output-1 .steer-grid");
    assert.equal(cells.length, 80 * 64);
    for (const c of cells) assertDiverging(c.rgb, v[c.row * 64 + c.col], m, dark, `dark layer ${c.row} pos ${c.col}`);
    assert.equal(await out.locator("canvas").count(), 1);
    assert.equal(await out.locator(".steer-collabels > span").count(), 64);
    await p.shot("positions-80x64-dark");
    assert.deepEqual(p.errors, []);
    await p.close();
  });
});
