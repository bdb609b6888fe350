// The head heatmap renderer (renderers/heads.ts) in chromium: every cell painted in the colour of its
// value and answering hover with its head, the legend's range, click-to-patch messages (click, mode
// toggle, shift-click sets, keyboard), the answer shown, the offers when no kernel holds the result,
// "Insert as code", hostile tokens as text, the [layer, head, pos] picker, 32x32 and 80x64 grids.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fillRerunCode, headName, type HeadsView, type RerunAnswer, type RerunRequest } from "../../src/protocol/views";
import { paletteFor } from "../../webview/colour";
import { chromiumSkip, launch, loadFixture, type Harness, type RendererPage } from "./browser";
import { assertDiverging, assertShown, cellCentre, probeGrid } from "./grid-probe";
import { bigHeads, HOSTILE_TOKENS, shown, values } from "./payloads";

const WHITE = [255, 255, 255] as const;
const light = paletteFor("light", WHITE);

function maxAbs(v: Float32Array): number {
  return v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

/** Every cell: colour from its value, tooltip naming its head and value. */
async function checkEveryCell(p: RendererPage, outputId: string, payload: HeadsView, pos?: number): Promise<number> {
  const v = values(payload);
  const [nL, nH] = payload.values.shape;
  const nP = payload.axes.length === 3 ? payload.values.shape[2] : 1;
  const m = maxAbs(v);
  const cells = await probeGrid(p.page, `#${outputId} .steer-grid`);
  assert.equal(cells.length, nL * nH, `expected ${nL * nH} cells, got ${cells.length}`);
  for (const c of cells) {
    const x = v[(c.row * nH + c.col) * nP + (pos ?? 0)];
    const where = `${outputId} ${headName(c.row, c.col)}`;
    assertDiverging(c.rgb, x, m, light, where);
    const tip = Object.fromEntries(c.tip);
    assert.equal(tip.head, headName(c.row, c.col), `${where}: tooltip head`);
    assert.equal(tip.layer, String(c.row), `${where}: tooltip layer`);
    assert.equal(tip["head index"], String(c.col), `${where}: tooltip head index`);
    assertShown(tip[payload.valueLabel], x, where);
  }
  return cells.length;
}

describe("head heatmap renderer", { skip: chromiumSkip }, () => {
  let b: Harness;
  before(async () => {
    b = await launch();
  });
  after(async () => {
    await b?.close();
  });

  test("4x4 toy-model fixture: every cell, labels, legend range, hover, screenshot", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const p = await b.open("heads");
    const out = await p.render(payload);
    assert.equal(await checkEveryCell(p, "output-1", payload), 16);
    const text = await out.innerText();
    for (const label of ["L0", "L1", "L2", "L3", "H0", "H1", "H2", "H3", payload.title, "patching effect (normalized)"]) assert.ok(text.includes(label), `view text should include ${JSON.stringify(label)}; got:\n${text}`);
    const m = maxAbs(values(payload));
    const lg = out.locator(".steer-legend");
    assert.equal(Number(await lg.getAttribute("data-min")), -m, "legend minimum is -max|value|");
    assert.equal(Number(await lg.getAttribute("data-max")), m, "legend maximum is max|value|");
    assert.equal(await lg.locator("[data-end=max]").innerText(), String(Number(m.toPrecision(3))));
    // A real pointer over a3.h2 shows its tooltip.
    const grid = out.locator(".steer-grid");
    const c = await cellCentre(grid, 3, 2);
    await p.page.mouse.move(c.x, c.y);
    const tip = out.locator(".steer-tooltip");
    await tip.waitFor({ state: "visible" });
    assert.match(await tip.innerText(), /head\s+a3\.h2[\s\S]*layer\s+3[\s\S]*head index\s+2[\s\S]*patching effect \(normalized\)\s+1/);
    await p.shot("heads-4x4");
    assert.deepEqual(p.errors, [], "no page errors");
    await p.close();
  });

  test("click posts a RerunRequest; the answer shows before/after; Insert as code fills the template", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const p = await b.open("heads");
    const out = await p.render(payload);
    const grid = out.locator(".steer-grid");
    const c = await cellCentre(grid, 3, 2);
    await p.page.mouse.click(c.x, c.y);
    const req: RerunRequest = await p.nextPosted(0);
    assert.equal(typeof req.requestId, "string");
    assert.deepEqual({ ...req, requestId: "" }, {
      type: "steer.rerun", requestId: "", resultId: payload.rerun!.resultId, kernelSession: payload.rerun!.kernelSession,
      target: { heads: [{ layer: 3, head: 2 }] }, mode: "patch",
    });
    assert.equal(await out.locator(".steer-patch").getAttribute("data-state"), "waiting");
    const answer: RerunAnswer = {
      type: "steer.rerun-result", requestId: req.requestId, resultId: req.resultId,
      outcome: { ok: true, metricBefore: -13.37, metricAfter: 32.25, normalizedAfter: 1, topBefore: [{ token: " John", id: 7, prob: 0.91 }, { token: HOSTILE_TOKENS[0], id: 8, prob: 0.05 }], topAfter: [{ token: " Mary", id: 9, prob: 0.998 }] },
    };
    // An answer to another request changes nothing.
    await p.deliver({ ...answer, requestId: "someone-else" });
    assert.equal(await out.locator(".steer-patch").getAttribute("data-state"), "waiting");
    await p.deliver(answer);
    await out.locator(".steer-patch[data-state=answered]").waitFor();
    const metric = out.locator(".steer-metric");
    assert.equal(await metric.getAttribute("data-before"), "-13.37");
    assert.equal(await metric.getAttribute("data-after"), "32.25");
    const panel = await out.locator(".steer-patch").innerText();
    assert.match(panel, /a3\.h2 \(patch\)/);
    assert.match(panel, /-13\.4[\s\S]*32\.3[\s\S]*1/);
    assert.equal(await out.locator("[data-top=before] .steer-tok").allInnerTexts().then((t) => t.join("|")), ` John|${HOSTILE_TOKENS[0]}`);
    assert.equal(await out.locator("[data-top=after] .steer-tok").innerText(), " Mary");
    assert.match(panel, /91\.0%[\s\S]*99\.8%/);
    assert.equal(await p.page.locator("img").count(), 0, "a token in the answer made no element");
    await p.shot("heads-answer");

    await out.locator("vscode-button[data-action=insert-code]").click();
    const insert = await p.nextPosted(1);
    assert.deepEqual(insert, { type: "steer.insert-code", outputId: "output-1", code: fillRerunCode(payload.rerun!.code!, { heads: [{ layer: 3, head: 2 }] }, "patch") });
    assert.equal(insert.code, 'const rerun = await result.rerun({"heads":[{"layer":3,"head":2}]}, "patch");\nrerun;');
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("the toggle switches to zero-ablation; shift-click builds a set patched together", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const p = await b.open("heads");
    const out = await p.render(payload);
    const grid = out.locator(".steer-grid");
    await out.locator("vscode-checkbox[data-control=mode]").click();
    let c = await cellCentre(grid, 0, 1);
    await p.page.mouse.click(c.x, c.y);
    const zero = await p.nextPosted(0);
    assert.equal(zero.mode, "zero", "after the toggle a click asks for zero-ablation");
    assert.deepEqual(zero.target, { heads: [{ layer: 0, head: 1 }] });

    await p.page.keyboard.down("Shift");
    for (const [l, h] of [[3, 2], [2, 1], [1, 0]]) {
      c = await cellCentre(grid, l, h);
      await p.page.mouse.click(c.x, c.y);
    }
    c = await cellCentre(grid, 1, 0);
    await p.page.mouse.click(c.x, c.y); // again: leaves the set
    await p.page.keyboard.up("Shift");
    assert.equal((await p.posted()).length, 1, "shift-clicks post nothing");
    assert.equal(await grid.getAttribute("data-selected"), "a2.h1 a3.h2");
    assert.equal(await out.locator("[data-selection]").getAttribute("data-selection"), "a2.h1 a3.h2");
    await out.locator("vscode-button[data-action=patch-set]").click();
    const set = await p.nextPosted(1);
    assert.deepEqual({ target: set.target, mode: set.mode }, { target: { heads: [{ layer: 2, head: 1 }, { layer: 3, head: 2 }] }, mode: "zero" });
    await p.shot("heads-set");
    await out.locator("vscode-button[data-action=clear-set]").click();
    assert.equal(await grid.getAttribute("data-selected"), "");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("keyboard: arrows move the active cell (clamped at the edges), Enter patches, Space adds to the set", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const p = await b.open("heads");
    const out = await p.render(payload);
    const grid = out.locator(".steer-grid");
    await grid.focus();
    assert.equal(await grid.getAttribute("role"), "grid");
    assert.equal(await grid.getAttribute("aria-rowcount"), "4");
    assert.equal(await grid.getAttribute("aria-colcount"), "4");
    const active = out.locator("[role=gridcell]");
    const keys = async (...k: string[]) => {
      for (const key of k) await p.page.keyboard.press(key);
    };
    await keys("ArrowUp", "ArrowLeft");
    assert.equal(await active.getAttribute("data-name"), "a0.h0", "moves stop at the top-left corner");
    await keys("ArrowRight", "ArrowRight", "ArrowDown", "ArrowDown", "ArrowDown", "ArrowDown", "ArrowDown");
    assert.equal(await active.getAttribute("data-name"), "a3.h2");
    assert.equal(await active.getAttribute("aria-colindex"), "3");
    assert.equal(await active.locator("xpath=..").getAttribute("aria-rowindex"), "4");
    assert.equal(Number(await active.getAttribute("data-value")), values(payload)[3 * 4 + 2]);
    assert.match(await out.locator(".steer-tooltip").innerText(), /a3\.h2/, "the focused cell's tooltip shows");
    await keys("Enter");
    assert.deepEqual((await p.nextPosted(0)).target, { heads: [{ layer: 3, head: 2 }] });
    await keys("Space", "Home", "Space");
    assert.equal(await grid.getAttribute("data-selected"), "a3.h0 a3.h2");
    await keys("End");
    assert.equal(await active.getAttribute("data-name"), "a3.h3");
    assert.equal((await p.posted()).length, 1, "Space posts nothing");
    await p.close();
  });

  test("no kernel: kernel-unavailable and unknown-result offer to re-run the cell; failures and timeouts say so", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const p = await b.open("heads");
    const out = await p.render(payload);
    const panel = out.locator(".steer-patch");
    const grid = out.locator(".steer-grid");
    const click = async (l: number, h: number) => {
      const c = await cellCentre(grid, l, h);
      await p.page.mouse.click(c.x, c.y);
    };
    await click(1, 1);
    const req = await p.nextPosted(0);
    await p.deliver({ type: "kernel-unavailable", request: req });
    await out.locator(".steer-patch[data-state=kernel-gone]").waitFor();
    assert.match(await panel.innerText(), /No kernel is running for this notebook[\s\S]*Re-run the cell/);
    await out.locator("vscode-button[data-action=rerun-cell]").click();
    assert.deepEqual(await p.nextPosted(1), { type: "steer.rerun-cell", outputId: "output-1" });
    await p.shot("heads-kernel-unavailable");

    await click(2, 2);
    const req2 = await p.nextPosted(2);
    await p.deliver({ type: "steer.rerun-result", requestId: req2.requestId, resultId: req2.resultId, outcome: { ok: false, reason: "unknown-result", message: "no result r1 in this kernel" } });
    await out.locator(".steer-patch[data-state=kernel-gone]").waitFor();
    assert.match(await panel.innerText(), /no longer holds this result[\s\S]*no result r1 in this kernel/);
    assert.equal(await out.locator("vscode-button[data-action=rerun-cell]").count(), 1);

    await click(0, 0);
    const req3 = await p.nextPosted(4 - 1);
    await p.deliver({ type: "steer.rerun-result", requestId: req3.requestId, resultId: req3.resultId, outcome: { ok: false, reason: "failed", message: "hook blew up" } });
    await out.locator(".steer-patch[data-state=failed]").waitFor();
    assert.match(await panel.innerText(), /a0\.h0 \(patch\) failed: hook blew up/);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("without renderer messaging (an HTML export) the view draws and says patching needs VS Code", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const p = await b.open("heads", { noMessaging: true, theme: "none" });
    const out = await p.render(payload);
    assert.equal(await checkEveryCell(p, "output-1", payload), 16);
    assert.match(await out.locator(".steer-patch").innerText(), /needs this notebook open in VS Code/);
    const c = await cellCentre(out.locator(".steer-grid"), 3, 2);
    await p.page.mouse.click(c.x, c.y);
    await out.locator(".steer-patch[data-state=no-messaging]").waitFor();
    assert.deepEqual(await p.posted(), []);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("[layer, head, pos]: the picker lists every token, opens at the strongest position, repaints and targets the picked one", async () => {
    const payload = loadFixture<HeadsView>("heads-by-pos");
    const v = values(payload);
    const nP = payload.values.shape[2];
    let strongest = 0;
    v.forEach((x, i) => {
      if (Math.abs(x) > Math.abs(v[strongest])) strongest = i;
    });
    const p = await b.open("heads");
    const out = await p.render(payload);
    const grid = out.locator(".steer-grid");
    assert.equal(await grid.getAttribute("data-pos"), String(strongest % nP));
    const options = await out.locator("vscode-option").allTextContents();
    assert.deepEqual(options, payload.tokens!.map((t, i) => `${i} ${t}`));
    await checkEveryCell(p, "output-1", payload, strongest % nP);
    // The dropdown as a person uses it: open it, click the option (inside the element's shadow DOM).
    await out.locator("vscode-single-select").click();
    await out.locator('vscode-single-select li[role=option][data-index="10"]').click();
    await p.page.waitForFunction(`document.querySelector("#output-1 .steer-grid").dataset.pos === "10"`, undefined, { timeout: 5000 });
    await checkEveryCell(p, "output-1", payload, 10);
    const c = await cellCentre(grid, 2, 1);
    await p.page.mouse.click(c.x, c.y);
    assert.deepEqual((await p.nextPosted(0)).target, { heads: [{ layer: 2, head: 1 }], pos: 10 });
    await p.shot("heads-by-pos");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hostile tokens and title render as text: no element, no script runs", async () => {
    const payload = loadFixture<HeadsView>("hostile-heads");
    const p = await b.open("heads");
    await p.page.evaluate("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);");
    const out = await p.render(payload);
    assert.equal(await out.locator("h3").innerText(), payload.title);
    const options = await out.locator("vscode-option").allTextContents();
    assert.deepEqual(options, payload.tokens!.map((t, i) => `${i} ${shown(t)}`));
    await out.locator("vscode-single-select").click();
    await out.locator('vscode-single-select li[role=option][data-index="1"]').click();
    await p.page.waitForFunction(`document.querySelector("#output-1 .steer-grid").dataset.pos === "1"`, undefined, { timeout: 5000 });
    const cells = await probeGrid(p.page, "#output-1 .steer-grid");
    assert.equal(Object.fromEntries(cells[0].tip).position, `1 ${payload.tokens![1]}`);
    const counts = await p.page.evaluate(`({ img: document.querySelectorAll("img").length, svg: document.querySelectorAll("svg").length,
      b: document.querySelectorAll("b").length, i: document.querySelectorAll("i").length, script: document.querySelectorAll("script").length,
      alerts: window.__alerts.length, handlers: document.querySelectorAll("[onerror],[onload],[onmouseover]").length })`);
    assert.deepEqual(counts, { img: 0, svg: 0, b: 0, i: 0, script: 1, alerts: 0, handlers: 0 });
    await p.shot("heads-hostile");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  for (const [layers, heads] of [[32, 32], [80, 64]] as const) {
    test(`${layers}x${heads}: every cell painted and answering hover; one canvas, few elements`, async () => {
      const payload = bigHeads(layers, heads);
      const p = await b.open("heads", { viewport: { width: 1200, height: 900 } });
      const out = await p.render(payload);
      assert.equal(await checkEveryCell(p, "output-1", payload), layers * heads);
      assert.equal(await out.locator("canvas").count(), 1);
      const elements = Number(await p.page.evaluate(`document.querySelectorAll("#output-1 *").length`));
      assert.ok(elements < layers + heads + 80, `expected a canvas and labels, not an element per cell: ${elements} elements`);
      const c = await cellCentre(out.locator(".steer-grid"), layers - 1, heads - 1);
      await p.page.mouse.click(c.x, c.y);
      assert.deepEqual((await p.nextPosted(0)).target, { heads: [{ layer: layers - 1, head: heads - 1 }] });
      await p.shot(`heads-${layers}x${heads}`);
      assert.deepEqual(p.errors, []);
      await p.close();
    });
  }

  test("themes: zero paints the theme's background, the largest value the theme's positive colour", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const v = values(payload);
    const m = maxAbs(v);
    for (const [theme, bg] of [["dark", [31, 31, 31]], ["high-contrast", [0, 0, 0]]] as const) {
      const p = await b.open("heads", { theme });
      await p.render(payload);
      const kind = theme === "dark" ? "dark" : "high-contrast";
      const ends = paletteFor(kind, bg);
      const cells = await probeGrid(p.page, "#output-1 .steer-grid");
      for (const c of cells) assertDiverging(c.rgb, v[c.row * 4 + c.col], m, ends, `${theme} ${headName(c.row, c.col)}`);
      const zero = cells.find((c) => v[c.row * 4 + c.col] === 0);
      assert.ok(zero, "the fixture has a zero cell");
      assert.deepEqual(zero.rgb, [...bg], `${theme}: a zero cell is the background`);
      await p.shot(`heads-${theme}`);
      assert.deepEqual(p.errors, []);
      await p.close();
    }
  });

  test("a theme switch in VS Code (body class and variables change) repaints with the new theme's colours", async () => {
    const payload = loadFixture<HeadsView>("heads-4x4");
    const v = values(payload);
    const p = await b.open("heads");
    const out = await p.render(payload);
    await p.page.evaluate(`(() => {
      document.documentElement.style.setProperty("--vscode-editor-background", "#1f1f1f");
      document.documentElement.style.setProperty("--vscode-editor-foreground", "#cccccc");
      document.body.className = "vscode-dark";
      document.body.setAttribute("data-vscode-theme-kind", "vscode-dark");
    })()`);
    await p.page.waitForFunction(`document.querySelector("#output-1 canvas").getContext("2d").getImageData(2, 2, 1, 1).data[0] === 31`, undefined, { timeout: 5000 });
    const dark = paletteFor("dark", [31, 31, 31]);
    for (const c of await probeGrid(p.page, "#output-1 .steer-grid")) assertDiverging(c.rgb, v[c.row * 4 + c.col], maxAbs(v), dark, `after the switch ${headName(c.row, c.col)}`);
    assert.equal(Number(await out.locator(".steer-legend").getAttribute("data-max")), maxAbs(v));
    await p.close();
  });

  test("a malformed payload shows what is wrong and how to fix it", async () => {
    const p = await b.open("heads");
    const good = loadFixture<HeadsView>("heads-4x4");
    const cases: [unknown, RegExp][] = [
      [{ ...good, axes: ["head", "layer"] }, /axes must be \["layer", "head"\] or \["layer", "head", "pos"\], got \["head","layer"\]/],
      [{ ...good, values: { ...good.values, shape: [4, 5] } }, /values: decodeTensor: shape \[4, 5\] needs 80 bytes, got 64/],
      [{ ...good, axes: ["layer", "head", "pos"] }, /values must have 3 axes, got shape \[4, 4\]/],
      [null, /expected a JSON object, got null/],
    ];
    for (const [payload, re] of cases) {
      const out = await p.render(payload);
      const alert = await out.locator("[role=alert]").innerText();
      assert.match(alert, re);
      assert.match(await out.innerText(), /re-run the cell to regenerate it/);
    }
    assert.deepEqual(p.errors, []);
    await p.close();
  });
});

describe("renderers sharing one webview", { skip: chromiumSkip }, () => {
  test("every view's renderer loads into one page (as VS Code does) and each draws its outputs, without warnings", async () => {
    const b = await launch();
    try {
      const all = ["heads", "positions", "components", "attention", "logit-lens"];
      const p = await b.open("heads", { also: all.slice(1) });
      const fixtures = ["heads-4x4", "positions", "components", "attention", "logit-lens"];
      // Each payload says it was reduced: every view shows that as a note.
      for (const [i, name] of fixtures.entries()) await p.render({ ...loadFixture<object>(name), reduced: `kept the first 10 rows <${name}>` }, { via: all[i] });
      const views = await p.page.locator(".output > .steer-root").evaluateAll((els) => els.map((e) => e.getAttribute("data-view")));
      assert.deepEqual(views, ["heads", "positions", "components", "attention", "logitLens"]);
      assert.deepEqual(await p.page.locator(".steer-reduced").allInnerTexts(), fixtures.map((n) => `Reduced: kept the first 10 rows <${n}>`));
      assert.equal(await p.page.locator("[role=alert]").count(), 0, "no view reported a bad payload");
      assert.deepEqual(p.errors, []);
      assert.deepEqual(p.warnings, [], "no custom-element registry warnings from the second copies of the controls");
      await p.shot("all-views");
      await p.close();
    } finally {
      await b.close();
    }
  });
});
