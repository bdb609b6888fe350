// The attention renderer (renderers/attention.ts) in chromium, on layer 1 of the toy model measured
// through llama.cpp (fixture): every head as a small multiple, the large pattern painted cell by cell
// from the weights with tokens on both axes, choosing a head (click, keyboard), the token strip's
// highlight of what a token attends to and what attends to it, and hostile tokens as text.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeTensor, encodeTensor, type AttentionView } from "../../src/protocol/views";
import { paletteFor } from "../../webview/colour";
import { chromiumSkip, launch, loadFixture, type Harness, type RendererPage } from "./browser";
import { assertShown, probeGrid } from "./grid-probe";
import { HOSTILE_TOKENS, shown } from "./payloads";

const light = paletteFor("light", [255, 255, 255]);

/** Every cell of the large pattern: the sequential colour of its weight (background at 0, positive end at 1) and its tooltip. */
async function checkPattern(p: RendererPage, payload: AttentionView, hi: number): Promise<void> {
  const n = payload.tokens.length;
  const w = decodeTensor(payload.patterns);
  const cells = await probeGrid(p.page, "#output-1 .steer-grid");
  assert.equal(cells.length, n * n);
  for (const c of cells) {
    const x = w[(hi * n + c.row) * n + c.col];
    const want = light.neutral.map((z, i) => z + (light.positive[i] - z) * Math.max(0, Math.min(1, x)));
    const where = `head ${payload.heads[hi]} query ${c.row} key ${c.col}`;
    assert.ok(c.rgb.every((g, i) => Math.abs(g - want[i]) <= 1), `${where}: weight ${x} should paint rgb(${want.map(Math.round).join(", ")}), got rgb(${c.rgb.join(", ")})`);
    const tip = Object.fromEntries(c.tip);
    assert.equal(tip.head, `a${payload.layer}.h${payload.heads[hi]}`, `${where}: tooltip head`);
    assert.equal(tip.query, `${c.row} ${shown(payload.tokens[c.row])}`, `${where}: tooltip query`);
    assert.equal(tip.key, `${c.col} ${shown(payload.tokens[c.col])}`, `${where}: tooltip key`);
    assertShown(tip.attention, x, where);
  }
}

describe("attention renderer", { skip: chromiumSkip }, () => {
  let b: Harness;
  before(async () => {
    b = await launch();
  });
  after(async () => {
    await b?.close();
  });

  test("small multiples, the large pattern of each head, token labels on both axes", async () => {
    const payload = loadFixture<AttentionView>("attention");
    const p = await b.open("attention");
    const out = await p.render(payload);
    const minis = out.locator(".steer-mini");
    assert.deepEqual(await minis.evaluateAll((els) => els.map((e) => e.getAttribute("data-head"))), payload.heads.map(String));
    assert.deepEqual(await minis.allInnerTexts(), payload.heads.map((h) => `a${payload.layer}.h${h}`));
    assert.deepEqual(await out.locator(".steer-collabels > span").allTextContents(), payload.tokens.map(shown));
    assert.deepEqual(await out.locator(".steer-rowlabels > span").allTextContents(), payload.tokens.map(shown));
    await checkPattern(p, payload, 0);
    await p.shot("attention");
    await minis.nth(3).click();
    assert.equal(await out.locator(".steer-grid").getAttribute("data-head"), String(payload.heads[3]));
    assert.equal(await minis.nth(3).getAttribute("aria-pressed"), "true");
    await checkPattern(p, payload, 3);
    await minis.nth(1).focus();
    await p.page.keyboard.press("Enter");
    assert.equal(await out.locator(".steer-grid").getAttribute("data-head"), String(payload.heads[1]));
    await checkPattern(p, payload, 1);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hovering a token colours what it attends to and what attends to it", async () => {
    const payload = loadFixture<AttentionView>("attention");
    const n = payload.tokens.length;
    const w = decodeTensor(payload.patterns);
    const p = await b.open("attention", { theme: "dark" });
    const out = await p.render(payload);
    await out.locator(".steer-mini").nth(3).click();
    const hi = 3;
    const toks = out.locator(".steer-text .steer-tok");
    assert.deepEqual(await toks.allTextContents(), payload.tokens.map(shown));
    for (const i of [4, 10, n - 1]) {
      await toks.nth(i).hover();
      const got = await toks.evaluateAll((els) => els.map((e) => [e.getAttribute("data-weight"), e.hasAttribute("data-hovered")]));
      got.forEach(([weight, hovered], j) => {
        const want = j <= i ? w[(hi * n + i) * n + j] : w[(hi * n + j) * n + i];
        assert.equal(Number(weight), want, `hovering ${i}: token ${j} should carry weight ${want}, got ${weight}`);
        assert.equal(hovered, j === i, `only token ${i} is marked hovered`);
      });
    }
    await p.shot("attention-hover-dark");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hostile tokens render as text", async () => {
    const n = HOSTILE_TOKENS.length;
    const pattern = Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) >= i % n ? 1 / (Math.floor(i / n) + 1) : 0));
    const payload: AttentionView = { title: "<img src=x onerror=alert(9)>", layer: 0, heads: [0], tokens: HOSTILE_TOKENS, patterns: encodeTensor([1, n, n], pattern) };
    const p = await b.open("attention");
    await p.page.evaluate("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);");
    const out = await p.render(payload);
    assert.deepEqual(await out.locator(".steer-text .steer-tok").allTextContents(), HOSTILE_TOKENS.map(shown));
    await checkPattern(p, payload, 0);
    await out.locator(".steer-text .steer-tok").nth(5).hover();
    const counts = await p.page.evaluate(`({ img: document.querySelectorAll("img").length, svg: document.querySelectorAll("svg").length, b: document.querySelectorAll("b").length, alerts: window.__alerts.length })`);
    assert.deepEqual(counts, { img: 0, svg: 0, b: 0, alerts: 0 });
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("patterns whose shape does not match heads and tokens name the problem", async () => {
    const payload = loadFixture<AttentionView>("attention");
    const p = await b.open("attention");
    const out = await p.render({ ...payload, tokens: payload.tokens.slice(1) });
    assert.match(await out.locator("[role=alert]").innerText(), /patterns axis 1 must have 14 entries, got shape \[4, 15, 15\]/);
    await p.close();
  });
});
