// The logit-lens renderer (renderers/logit-lens.ts) in chromium, on the toy model's IOI prompt measured
// through llama.cpp (fixture): every layer x position cell shows its top token as text, coloured by its
// probability (or the target's, with the toggle); hover and keyboard focus show the top tokens; hostile
// tokens stay text.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeTensor, type LogitLensView } from "../../src/protocol/views";
import { paletteFor } from "../../webview/colour";
import { chromiumSkip, launch, loadFixture, type Harness, type RendererPage } from "./browser";
import { HOSTILE_TOKENS, shown } from "./payloads";

const light = paletteFor("light", [255, 255, 255]);

const CELLS = `Array.from(document.querySelectorAll("#output-1 .steer-lens td"), (td) => ({ layer: Number(td.dataset.layer), pos: Number(td.dataset.pos), text: td.textContent, bg: getComputedStyle(td).backgroundColor }))`;

async function checkCells(p: RendererPage, payload: LogitLensView, prob: (l: number, pos: number) => number): Promise<number> {
  const cells = (await p.page.evaluate(CELLS)) as { layer: number; pos: number; text: string; bg: string }[];
  assert.equal(cells.length, payload.layers.length * payload.tokens.length);
  for (const c of cells) {
    const where = `${payload.layers[c.layer]} pos ${c.pos}`;
    assert.equal(c.text, shown(payload.top[c.layer][c.pos][0].token), `${where}: top token`);
    const v = prob(c.layer, c.pos);
    const want = light.neutral.map((z, i) => Math.round(z + (light.positive[i] - z) * v));
    const got = c.bg.match(/\d+/g)!.map(Number);
    assert.ok(got.every((g, i) => Math.abs(g - want[i]) <= 1), `${where}: probability ${v} should colour rgb(${want.join(", ")}), got ${c.bg}`);
  }
  return cells.length;
}

describe("logit lens renderer", { skip: chromiumSkip }, () => {
  let b: Harness;
  before(async () => {
    b = await launch();
  });
  after(async () => {
    await b?.close();
  });

  test("every cell's top token and colour; tooltip; colour by the target; keyboard", async () => {
    const payload = loadFixture<LogitLensView>("logit-lens");
    const P = payload.tokens.length;
    const target = decodeTensor(payload.target!.probs);
    const p = await b.open("logit-lens");
    const out = await p.render(payload);
    assert.equal(await checkCells(p, payload, (l, pos) => payload.top[l][pos][0].prob), 4 * P);
    assert.deepEqual(await out.locator("thead th").allTextContents(), ["", ...payload.tokens.map(shown)]);
    assert.deepEqual(await out.locator("tbody th").allTextContents(), payload.layers);
    await out.locator(`td[data-layer='3'][data-pos='${P - 1}']`).hover();
    const tip = await out.locator(".steer-tooltip").innerText();
    const top = payload.top[3][P - 1];
    assert.match(tip, new RegExp(`layer\\s+resid_post 3[\\s\\S]*position\\s+${P - 1}\\s+to[\\s\\S]*#1\\s+ Mary\\s+0\\.998[\\s\\S]*#${top.length}`));
    assert.match(tip, /P\( Mary\)\s+0\.998/);
    await p.shot("logit-lens");
    await out.locator("vscode-checkbox[data-control=by-target]").click();
    await checkCells(p, payload, (l, pos) => target[l * P + pos]);
    assert.match(await out.locator(".steer-legend").innerText(), /P\( Mary\)/);
    await out.locator("td[data-layer='0'][data-pos='0']").focus();
    await p.page.keyboard.press("ArrowDown");
    await p.page.keyboard.press("ArrowRight");
    const focused = await p.page.evaluate(`[document.activeElement.dataset.layer, document.activeElement.dataset.pos]`);
    assert.deepEqual(focused, ["1", "1"]);
    assert.match(await out.locator(".steer-tooltip").innerText(), /resid_post 1[\s\S]*position\s+1\s+When/);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hostile tokens (prompt and predictions) render as text", async () => {
    const n = HOSTILE_TOKENS.length;
    const payload: LogitLensView = {
      title: "<b>lens</b>", tokens: HOSTILE_TOKENS, layers: ["<i>L0</i>", "logits"],
      top: [0, 1].map((l) => HOSTILE_TOKENS.map((_, pos) => [{ token: HOSTILE_TOKENS[(pos + l + 1) % n], id: pos, prob: 0.5 }, { token: "<img src=y onerror=alert(7)>", id: 1, prob: 0.1 }])),
    };
    const p = await b.open("logit-lens");
    await p.page.evaluate("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);");
    const out = await p.render(payload);
    await checkCells(p, payload, () => 0.5);
    await out.locator("td[data-layer='1'][data-pos='2']").hover();
    assert.match(await out.locator(".steer-tooltip").innerText(), /<img src=y onerror=alert\(7\)>/);
    const counts = await p.page.evaluate(`({ img: document.querySelectorAll("img").length, b: document.querySelectorAll("b").length, i: document.querySelectorAll("i").length, alerts: window.__alerts.length })`);
    assert.deepEqual(counts, { img: 0, b: 0, i: 0, alerts: 0 });
    await p.shot("logit-lens-hostile");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("a top table of the wrong size names the problem", async () => {
    const payload = loadFixture<LogitLensView>("logit-lens");
    const p = await b.open("logit-lens");
    const out = await p.render({ ...payload, layers: payload.layers.slice(1) });
    assert.match(await out.locator("[role=alert]").innerText(), /top must be \[layer\]\[pos\] lists of tokens, 3 layers by 15 positions/);
    await p.close();
  });
});
