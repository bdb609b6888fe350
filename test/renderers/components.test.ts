// The components renderer (renderers/components.ts) in chromium: one signed bar per component with its
// label and value as text, bar lengths proportional to |value| on the side of its sign, hover, the
// sort toggle, long lists cut to the largest, and hostile labels as text.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ComponentsView } from "../../src/protocol/views";
import { chromiumSkip, launch, loadFixture, type Harness } from "./browser";
import { HOSTILE_TOKENS, wave } from "./payloads";

/** Each bar's label, value and geometry relative to its track's zero line (a string: see browser.ts). */
const BARS = `Array.from(document.querySelectorAll("#output-1 .steer-bar-track"), (t) => {
  const tr = t.getBoundingClientRect(), b = t.querySelector(".steer-bar").getBoundingClientRect();
  const label = t.previousElementSibling;
  return { label: label.textContent, value: Number(label.dataset.value), left: b.left - (tr.left + tr.width / 2), right: b.right - (tr.left + tr.width / 2), half: tr.width / 2, text: t.nextElementSibling.textContent };
})`;

interface Bar { label: string; value: number; left: number; right: number; half: number; text: string }

describe("components renderer", { skip: chromiumSkip }, () => {
  let b: Harness;
  before(async () => {
    b = await launch();
  });
  after(async () => {
    await b?.close();
  });

  test("every component's bar: label, sign, length, value; hover; sort toggle", async () => {
    const payload = loadFixture<ComponentsView>("components");
    const p = await b.open("components");
    const out = await p.render(payload);
    const m = Math.max(...payload.values.map(Math.abs));
    const bars = (await p.page.evaluate(BARS)) as Bar[];
    assert.deepEqual(bars.map((x) => x.label), payload.labels, "a bar per component, in model order");
    bars.forEach((bar, i) => {
      const v = payload.values[i];
      const len = (Math.abs(v) / m) * bar.half;
      const [from, to] = v < 0 ? [-len, 0] : [0, len];
      assert.ok(Math.abs(bar.left - from) <= 1 && Math.abs(bar.right - to) <= 1, `${bar.label} (${v}): bar should span [${from.toFixed(1)}, ${to.toFixed(1)}] px from zero, got [${bar.left.toFixed(1)}, ${bar.right.toFixed(1)}]`);
      assert.equal(bar.value, v);
      assert.ok(Math.abs(Number(bar.text) - v) <= Math.abs(v) * 5e-3 + 1e-9, `${bar.label}: shows ${bar.text}, value ${v}`);
    });
    await out.locator(`.steer-bar-track[data-index='${payload.labels.indexOf("a2.h1")}']`).hover();
    assert.match(await out.locator(".steer-tooltip").innerText(), /component\s+a2\.h1[\s\S]*contribution to the logit difference\s+-2\.1/);
    await p.shot("components");
    await out.locator("vscode-checkbox[data-control=sort]").click();
    const sorted = (await p.page.evaluate(BARS)) as Bar[];
    const want = payload.labels.map((l, i) => [l, Math.abs(payload.values[i])] as const).sort((a, c) => c[1] - a[1]).map(([l]) => l);
    assert.deepEqual(sorted.map((x) => x.label), want, "sorted by |value|, largest first");
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("long lists show the 400 largest and say so; hostile labels are text", async () => {
    const labels = Array.from({ length: 1000 }, (_, i) => (i < HOSTILE_TOKENS.length ? HOSTILE_TOKENS[i] : `c${i}`));
    const values = wave(1000, 3);
    const p = await b.open("components", { theme: "high-contrast" });
    await p.page.evaluate("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);");
    const out = await p.render({ title: "many", labels, values, valueLabel: "v" } satisfies ComponentsView);
    const bars = (await p.page.evaluate(BARS)) as Bar[];
    assert.equal(bars.length, 400);
    const cutoff = [...values].map(Math.abs).sort((a, c) => c - a)[399];
    assert.ok(bars.every((x) => Math.abs(x.value) >= cutoff), "the bars shown are the largest");
    assert.match(await out.innerText(), /Showing the 400 largest of 1000 components/);
    const hostileShown = bars.filter((x) => HOSTILE_TOKENS.includes(x.label)).map((x) => x.label);
    for (const l of hostileShown) assert.ok(labels.includes(l));
    const counts = await p.page.evaluate(`({ img: document.querySelectorAll("img").length, svg: document.querySelectorAll("svg").length, alerts: window.__alerts.length })`);
    assert.deepEqual(counts, { img: 0, svg: 0, alerts: 0 });
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("a payload whose values do not match its labels names the problem", async () => {
    const p = await b.open("components");
    const out = await p.render({ title: "bad", labels: ["a", "b"], values: [1], valueLabel: "v" });
    assert.match(await out.locator("[role=alert]").innerText(), /values must be an array of 2 numbers \(one per label\), got 1 entries/);
    await p.close();
  });
});
