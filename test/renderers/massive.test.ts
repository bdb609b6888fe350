/**
 * The massive-activations renderer in real chromium (WebGL through SwiftShader): the four parts are
 * drawn from the payload's numbers (a seeded payload, and the toy model's real scan recorded by
 * fixtures/make-massive.ts), the layer picker and the flagged rows change the 3-D view,
 * hostile token strings stay text (in the table and in plotly's labels), a page without WebGL gets
 * a 2-D heatmap instead, and a payload whose parts disagree says which.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { decodeTensor, type MassiveView } from "../../src/protocol/views";
import { chromiumSkip, launch, loadFixture, repoRoot, type Harness, type RendererPage } from "./browser";
import { MASSIVE_DIM, TOY_TOKENS, toyMassive } from "./fixtures/massive";

async function renderReady(p: RendererPage, payload: unknown) {
  const out = await p.render(payload);
  await out.locator('.steer-massive[data-ready="true"]').waitFor({ timeout: 20_000 });
  return out;
}

/** What plotly holds for a plot: its traces' data as given and its layout. */
function plotData(p: RendererPage, selector: string): Promise<{ data: any[]; layout: any }> {
  return p.page.$eval(selector, (el: any) => JSON.parse(JSON.stringify({ data: el.data, layout: el.layout })));
}

describe("massive activations renderer", { skip: chromiumSkip }, () => {
  let harness: Harness;
  before(async () => {
    harness = await launch();
  });
  after(async () => {
    await harness?.close();
  });

  test("draws the four parts from the payload", async () => {
    const m = toyMassive();
    const p = await harness.open("massive", { viewport: { width: 1000, height: 1400 } });
    const requests: string[] = [];
    p.page.on("request", (r) => requests.push(r.url()));
    const out = await renderReady(p, m);
    assert.deepEqual(requests, [], "drawing fetches nothing (it must work in an HTML export, offline)");

    // 1. lines: top 1/2/3 and median per layer, log scale by default.
    const lines = await plotData(p, ".massive-lines");
    assert.deepEqual(lines.data.map((t) => t.name), ["top 1", "top 2", "top 3", "median"]);
    assert.deepEqual(lines.data[0].y, m.top1);
    assert.deepEqual(lines.data[3].y, m.median);
    assert.equal(lines.layout.yaxis.type, "log");
    assert.equal(await out.locator(".massive-lines .scatterlayer path.js-line").count(), 4, "four lines painted in the SVG");

    // 2. 3-D: the first flagged layer (1), its surface z = |value| [pos][channel], the planted entry marked.
    assert.equal(await out.locator(".massive-3d").getAttribute("data-layer"), "1");
    const cube = await plotData(p, ".massive-3d");
    assert.equal(cube.data[0].type, "surface");
    const values = decodeTensor(m.magnitudes.values);
    const nPos = TOY_TOKENS.length;
    assert.equal(cube.data[0].z.length, nPos);
    assert.equal(cube.data[0].z[0][MASSIVE_DIM], values[(1 * nPos + 0) * 192 + MASSIVE_DIM], "z[token 0][dim 128] is layer 1's value");
    assert.equal(cube.data[0].z[0][MASSIVE_DIM], 403);
    assert.deepEqual({ x: cube.data[1].x, y: cube.data[1].y, z: cube.data[1].z }, { x: [MASSIVE_DIM], y: [0], z: [403] }, "the flagged entry is marked");
    assert.equal(await out.locator(".massive-3d canvas").count() > 0, true, "the 3-D scene paints to a WebGL canvas");

    // 3. flagged: dim 128 of token 0 in layers 1, 2, 3; layer 1's row highlighted.
    const rows = await out.locator("table.flagged tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent).join("|")));
    assert.deepEqual(rows, ["1|0|<s>|128|403|" + rowRatio(m, 1), "2|0|<s>|128|406|" + rowRatio(m, 2), "3|0|<s>|128|409|" + rowRatio(m, 3)]);
    assert.deepEqual(await out.locator("table.flagged tr.current").evaluateAll((trs) => trs.map((tr) => (tr as any).dataset.layer)), ["1"]);

    // 4. the sink heatmap over [layer, head], the planted sink heads hottest.
    const sink = await plotData(p, ".massive-sink");
    assert.equal(sink.data[0].type, "heatmap");
    const z: number[][] = sink.data[0].z;
    const hot = z.flatMap((row, l) => row.map((v, hd) => (v > 0.5 ? `a${l}.h${hd}` : ""))).filter(Boolean);
    assert.deepEqual(hot, ["a1.h0", "a1.h3", "a2.h1", "a3.h2"]);
    assert.equal(await out.locator(".massive-sink .heatmaplayer image").count(), 1, "the heatmap is painted");
    assert.deepEqual(p.errors, []);
    await p.shot("massive-toy-light", out);
    await p.close();
  });

  test("the layer picker and the flagged rows change the 3-D view; the log toggle changes the scale", async () => {
    const m = toyMassive();
    const p = await harness.open("massive", { theme: "dark", viewport: { width: 1000, height: 1400 } });
    const out = await renderReady(p, m);
    const nPos = TOY_TOKENS.length;
    const values = decodeTensor(m.magnitudes.values);

    await out.locator("vscode-single-select.layer-picker").click();
    // The dropdown's items live in the select's shadow root (playwright's locators pierce it).
    await out.locator('vscode-single-select.layer-picker li[role="option"][data-index="0"]').click();
    await p.page.waitForFunction(() => (globalThis as any).document.querySelector(".massive-3d")?.getAttribute("data-layer") === "0");
    let cube = await plotData(p, ".massive-3d");
    assert.equal(cube.data[0].z[0][MASSIVE_DIM], values[MASSIVE_DIM], "layer 0's token 0, dim 128 (no massive value yet)");
    assert.ok(cube.data[0].z[0][MASSIVE_DIM] < 10, `layer 0 has no massive value, got ${cube.data[0].z[0][MASSIVE_DIM]}`);
    assert.deepEqual(cube.data[1].x, [], "no flagged entry in layer 0");
    assert.equal(cube.layout.scene.zaxis.title.text, "|value|, layer 0");
    assert.equal(await out.locator("table.flagged tr.current").count(), 0);

    await out.locator('table.flagged tbody tr[data-layer="3"]').click();
    await p.page.waitForFunction(() => (globalThis as any).document.querySelector(".massive-3d")?.getAttribute("data-layer") === "3");
    cube = await plotData(p, ".massive-3d");
    assert.equal(cube.data[0].z[0][MASSIVE_DIM], 409);
    assert.equal(cube.data[0].z[nPos - 1][5], values[(3 * nPos + nPos - 1) * 192 + 5]);
    assert.equal(await out.locator("vscode-single-select.layer-picker").evaluate((el: any) => el.value), "3", "the picker follows a row click");
    assert.deepEqual(await out.locator("table.flagged tr.current").evaluateAll((trs) => trs.map((tr) => (tr as any).dataset.layer)), ["3"]);

    await out.locator("vscode-checkbox.log-scale").click();
    await p.page.waitForFunction(() => (globalThis as any).document.querySelector(".massive-lines")?.layout?.yaxis?.type === "linear");
    assert.deepEqual(p.errors, []);
    await p.shot("massive-toy-dark-layer3", out);

    // Disposing the output frees its plots (their data, listeners and WebGL scene).
    const outputId = await out.getAttribute("id");
    await p.page.evaluate(`window.__renderer.disposeOutputItem(${JSON.stringify(outputId)})`);
    assert.deepEqual(await out.locator(".plot").evaluateAll((els) => els.map((el: any) => el.data === undefined && el.querySelectorAll("canvas").length === 0)), [true, true, true]);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hostile token strings render as text in the table and in plotly's labels", async () => {
    const hostile = ['<img src=x onerror="window.__pwned=1">', "<b>bold</b>", "a&amp;b", " line\nbreak", ...TOY_TOKENS.slice(4)];
    const m = toyMassive(hostile);
    m.title = "<script>window.__pwned=2</script>";
    const p = await harness.open("massive", { theme: "high-contrast", viewport: { width: 1000, height: 1400 } });
    const out = await renderReady(p, m);
    assert.equal(await out.locator("img, script, b").count(), 0, "no element was parsed from a token or the title");
    assert.equal(await p.page.evaluate(() => (globalThis as any).__pwned), undefined);
    assert.equal(await out.locator("h3.steer-title").textContent(), m.title);
    assert.equal(await out.locator("table.flagged tbody tr").first().locator("td").nth(2).textContent(), hostile[0]);

    // In 3-D, tick labels are WebGL text (no DOM) that reads <b> and <br> as styles: a zero-width space keeps them literal.
    const sceneTicks: string[] = (await plotData(p, ".massive-3d")).layout.scene.yaxis.ticktext;
    assert.deepEqual(sceneTicks.slice(0, 2), ['0 <\u200bimg src=x onerror="window.__pwned=1">', "1 <\u200bb>bold<\u200b/b>"]);

    // The 2-D fallback puts the tokens on an SVG axis, where their text can be read back.
    await p.page.addInitScript("HTMLCanvasElement.prototype.getContext = ((get) => function (kind, ...rest) { return /webgl/.test(kind) ? null : get.call(this, kind, ...rest); })(HTMLCanvasElement.prototype.getContext)");
    await p.page.reload();
    await p.page.waitForFunction(() => (globalThis as any).__ready === true);
    const flat = await renderReady(p, m);
    const ticks = await flat.locator(".massive-3d .ytick text").allTextContents();
    assert.deepEqual(ticks.slice(0, 4), ['0 <img src=x onerror="window.__pwned=1">', "1 <b>bold</b>", "2 a&amp;b", "3  line\u21b5break"]);
    assert.equal(await flat.locator("img, script, b").count(), 0);
    assert.match((await flat.locator(".steer-note").allTextContents()).join(" "), /WebGL is unavailable here/);
    assert.equal((await plotData(p, ".massive-3d")).data[0].type, "heatmap");
    assert.deepEqual(p.errors, []);
    await p.shot("massive-hostile-no-webgl", flat);
    await p.close();
  });

  test("the real scan of the toy model: the planted dim 128 of the first token flagged in every layer", async () => {
    const m = loadFixture<MassiveView>("massive-toy-circuits");
    const truth = JSON.parse(readFileSync(path.join(repoRoot, "samples/models/toy-circuits.truth.json"), "utf8"));
    const p = await harness.open("massive", { viewport: { width: 1000, height: 1400 } });
    const out = await renderReady(p, m);
    const rows = await out.locator("table.flagged tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].slice(0, 5).map((td) => td.textContent).join("|")));
    assert.deepEqual(rows, [0, 1, 2, 3].map((l) => `${l}|0|<s>|${truth.massive.dim}|${truth.massive.value}`));
    const cube = await plotData(p, ".massive-3d");
    assert.equal(await out.locator(".massive-3d").getAttribute("data-layer"), "0");
    assert.equal(cube.data[0].z[0][truth.massive.dim], truth.massive.value);
    // The sink heatmap is the scan's [layer, head] values, row by row.
    const sink = decodeTensor(m.sink!);
    const z: number[][] = (await plotData(p, ".massive-sink")).data[0].z;
    assert.deepEqual(z, [0, 1, 2, 3].map((l) => Array.from(sink.subarray(l * 4, l * 4 + 4))));
    assert.deepEqual(p.errors, []);
    await p.shot("massive-toy-circuits-real", out);
    await p.close();
  });

  test("a payload whose parts disagree says which, and how they should match", async () => {
    const m = toyMassive();
    m.magnitudes.tokens = m.magnitudes.tokens.slice(1);
    const p = await harness.open("massive");
    const out = await p.render(m);
    assert.equal(await out.locator(".steer-error").textContent(),
      "Cannot draw these massive activations: massive view: magnitudes.values has shape [4, 15, 192]; expected [layer 4, pos 14 (tokens), channel 192 (channels)].");
    await p.close();
  });
});

function rowRatio(m: MassiveView, layer: number): string {
  const f = m.flagged.find((e) => e.layer === layer)!;
  return `${Number(f.ratio.toPrecision(3))}x`;
}
