/**
 * The circuit renderer in real chromium: every node and edge of the toy model's IOI circuit is in the
 * SVG, the threshold slider prunes edges to those on input -> logits paths, hover and click show
 * scores, the export buttons post what the host expects, hostile strings stay text, and a 500-node,
 * 2,000-edge circuit is drawn whole. Also the circuit the lens discovers on the toy model, recorded.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { shownAt } from "../../renderers/circuit/layout";
import { CIRCUIT_EXPORT_FORMATS, type CircuitView } from "../../src/protocol/views";
import { chromiumSkip, launch, loadFixture, type Harness, type RendererPage } from "./browser";
import { largeCircuit, toyIoiCircuit } from "./fixtures/circuits";

const edgeKey = (c: CircuitView, i: number) => {
  const e = c.edges[i];
  return `${e.from}>${e.to}${e.input ? `:${e.input}` : ""}`;
};

/** Keys of the edges drawn and not hidden, read from the DOM. */
async function visibleEdges(p: RendererPage, c: CircuitView): Promise<string[]> {
  const idx = await p.page.$$eval("svg.graph-svg path.edge:not(.hit):not(.off)", (els) => els.map((e) => Number((e as any).dataset.edge)));
  return idx.map((i) => edgeKey(c, i)).sort();
}

async function visibleNodes(p: RendererPage): Promise<string[]> {
  return (await p.page.$$eval("svg.graph-svg g.node:not(.off)", (els) => els.map((e) => (e as any).dataset.node!))).sort();
}

describe("circuit renderer", { skip: chromiumSkip }, () => {
  let harness: Harness;
  before(async () => {
    harness = await launch();
  });
  after(async () => {
    await harness?.close();
  });

  test("draws every node and edge of the toy IOI circuit, the planted circuit shown first", async () => {
    const c = toyIoiCircuit();
    const p = await harness.open("circuit");
    const out = await p.render(c);
    const nodeIds = (await p.page.$$eval("svg.graph-svg g.node", (els) => els.map((e) => (e as any).dataset.node!))).sort();
    assert.deepEqual(nodeIds, c.nodes.map((n) => n.id).sort(), "every payload node is a <g> in the SVG");
    const edgeIdx = await p.page.$$eval("svg.graph-svg path.edge:not(.hit)", (els) => els.map((e) => Number((e as any).dataset.edge)));
    assert.equal(edgeIdx.length, 479, `expected 479 edge paths, got ${edgeIdx.length}`);
    assert.deepEqual([...new Set(edgeIdx)].sort((a, b) => a - b), c.edges.map((_, i) => i), "each payload edge drawn once");

    // The initial threshold is the weakest in-graph edge (0.19, m3 -> logits); m3 has no strong input,
    // so that edge is pruned and the rest of the planted edges show.
    const planted = c.edges.map((e, i) => (e.inGraph ? edgeKey(c, i) : "")).filter((k) => k && k !== "m3>logits").sort();
    assert.deepEqual(await visibleEdges(p, c), planted);
    assert.deepEqual(await visibleNodes(p), ["a0.h2", "a1.h0", "a1.h3", "a2.h1", "a3.h2", "input", "logits"]);
    assert.match((await out.locator(".counts").textContent())!, /^14 of 479 edges, 7 of 22 nodes$/);

    // q, k and v edges differ in dash pattern, and signs in colour.
    const style = (key: string) => p.page.$eval(`path.edge:not(.hit)[data-edge="${c.edges.findIndex((_, i) => edgeKey(c, i) === key)}"]`, (el) => {
      const s = (globalThis as any).getComputedStyle(el);
      return `${s.strokeDasharray} ${s.stroke}`;
    });
    const [q, k, v, neg, out2] = await Promise.all(["input>a1.h0:q", "input>a1.h0:k", "input>a3.h2:v", "a2.h1>a3.h2:q", "a3.h2>logits"].map(style));
    assert.equal(new Set([q, k, v].map((s) => s.split(" rgb")[0])).size, 3, `q, k, v dash patterns should differ: ${q} | ${k} | ${v}`);
    assert.notEqual(neg.split(" rgb")[1], out2.split(" rgb")[1], "negative and positive edges differ in colour");
    assert.deepEqual(p.errors, []);
    await p.shot("circuit-ioi-light", out);
    await p.close();
  });

  test("the circuit discovered on the toy model (recorded by fixtures/make-circuit.ts) opens on exactly its in-graph edges", async () => {
    const c = loadFixture<CircuitView>("circuit-ioi-toy-circuits");
    const p = await harness.open("circuit");
    const out = await p.render(c);
    const discovered = c.edges.map((e, i) => (e.inGraph ? edgeKey(c, i) : "")).filter(Boolean).sort();
    assert.deepEqual(discovered, ["a1.h0>a2.h1:k", "a2.h1>a3.h2:q", "a3.h2>logits", "input>a1.h0:q", "input>a2.h1:v"], "the planted IOI path");
    assert.deepEqual(await visibleEdges(p, c), discovered);
    assert.deepEqual(await visibleNodes(p), ["a1.h0", "a2.h1", "a3.h2", "input", "logits"]);
    assert.match((await out.locator(".steer-note").first().textContent())!, /faithfulness 0\.98/);
    assert.deepEqual(p.errors, []);
    await p.shot("circuit-ioi-discovered", out);
    await p.close();
  });

  test("the slider prunes edges live: only |score| >= threshold on input -> logits paths", async () => {
    const c = toyIoiCircuit();
    const p = await harness.open("circuit");
    const out = await p.render(c);
    const slider = out.locator('input[type="range"]');
    const steps = [...new Set(c.edges.map((e) => Math.abs(e.score)))].sort((a, b) => a - b);

    await slider.fill("0");
    assert.equal((await visibleEdges(p, c)).length, 479, "at the lowest step every edge is on a path (all reach input and logits directly)");

    const at03 = steps.findIndex((s) => s >= 0.3);
    await slider.fill(String(at03));
    const expected = [
      "input>a0.h2:q", "input>a0.h2:k", "input>a1.h0:q", "input>a1.h0:k", "a1.h0>a2.h1:k", "a2.h1>a3.h2:q",
      "input>a3.h2:k", "input>a3.h2:v", "a3.h2>logits", "a0.h2>a1.h3:k", "a1.h3>logits",
    ].sort();
    assert.deepEqual(await visibleEdges(p, c), expected, "threshold 0.31: the strong planted edges, input>a2.h1 (0.28) gone");
    assert.equal(await out.locator(".threshold-value").textContent(), "0.31");
    // Independent of the DOM: the pure pruning agrees.
    assert.deepEqual([...shownAt(c, steps[at03]).edges].map((i) => edgeKey(c, i)).sort(), expected);

    await slider.fill(String(steps.length - 1));
    assert.deepEqual(await visibleEdges(p, c), [], "at the top step only a3.h2 -> logits passes, and it has no strong path from input");
    assert.deepEqual(await visibleNodes(p), ["input", "logits"]);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("hover shows a node's and an edge's scores; a click lists the node's edges", async () => {
    const c = toyIoiCircuit();
    const p = await harness.open("circuit");
    const out = await p.render(c);
    await out.locator('g.node[data-node="a3.h2"]').hover();
    const tip = out.locator(".steer-tooltip");
    await tip.waitFor({ state: "visible" });
    const tipText = (await tip.textContent())!;
    for (const part of ["nodea3.h2", "kindhead", "layer3", "head2", "score0.88", "in circuityes", "edges shown3 in, 1 out"]) {
      assert.ok(tipText.includes(part), `tooltip should include "${part}", got "${tipText}"`);
    }

    await out.locator('g.node[data-node="a3.h2"]').click();
    const details = out.locator(".details");
    const rows = await details.locator("tr[data-edge]").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent).join("|")));
    assert.deepEqual(rows, ["input|v|0.83", "a2.h1|q|-0.61", "input|k|0.39", "logits||0.97"], `details rows, got ${JSON.stringify(rows)}`);
    assert.equal(await out.locator("g.node.selected").getAttribute("data-node"), "a3.h2");

    // An edge's hover target is its wide invisible twin.
    const idx = c.edges.findIndex((e) => e.from === "a2.h1" && e.to === "a3.h2" && e.input === "q");
    const box = (await out.locator(`path.edge.hit[data-edge="${idx}"]`).boundingBox())!;
    await p.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await p.page.waitForFunction(() => (globalThis as any).document.querySelector(".steer-tooltip")?.textContent?.startsWith("edge"));
    const edgeTip = (await tip.textContent())!;
    assert.ok(edgeTip.includes("edgea2.h1 -> a3.h2") && edgeTip.includes("inputq") && edgeTip.includes("score-0.61"), `edge tooltip, got "${edgeTip}"`);
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("each export button posts steer.export-circuit with the circuit as shown, and shows the host's answer", async () => {
    const c = toyIoiCircuit();
    const p = await harness.open("circuit", { theme: "dark" });
    const out = await p.render(c, { outputId: "cell-3-output" });
    const labels = await out.locator("vscode-button[data-format]").allTextContents();
    assert.deepEqual(labels.map((s) => s.trim()), ["SVG", "PNG", "DOT", "Mermaid", "EAP-IG JSON"]);
    for (const [i, format] of CIRCUIT_EXPORT_FORMATS.entries()) {
      await out.locator(`vscode-button[data-format="${format}"]`).click();
      const m = await p.nextPosted(i);
      assert.equal(m.type, "steer.export-circuit");
      assert.equal(m.format, format);
      assert.equal(m.outputId, "cell-3-output");
      assert.equal(typeof m.requestId, "string");
      const inGraph = m.circuit.edges.map((e: any, j: number) => (e.inGraph ? edgeKey(c, j) : "")).filter(Boolean).sort();
      assert.deepEqual(inGraph, await visibleEdges(p, c), "inGraph in the export is what the view shows");
      assert.equal(m.circuit.nodes.find((n: any) => n.id === "m3").inGraph, false, "m3 is pruned in the view, so not in the export");
    }
    const last = (await p.posted()).at(-1);
    await p.deliver({ type: "steer.export-saved", requestId: last.requestId, format: last.format, outcome: { ok: true, path: "/work/nb-cell3-circuit.json" } });
    await p.page.waitForFunction(() => (globalThis as any).document.querySelector(".export-status")?.textContent?.includes("saved"));
    assert.equal(await out.locator(".export-status").textContent(), "EAP-IG JSON saved: /work/nb-cell3-circuit.json");

    await out.locator('vscode-button[data-format="svg"]').click();
    const svgReq = await p.nextPosted(5);
    await p.deliver({ type: "kernel-unavailable", request: svgReq });
    await p.page.waitForFunction(() => (globalThis as any).document.querySelector(".export-status")?.textContent?.startsWith("No kernel"));
    assert.deepEqual(p.errors, []);
    await p.shot("circuit-ioi-dark", out);
    await p.close();
  });

  test("without messaging (an HTML export) the buttons say why they cannot export", async () => {
    const p = await harness.open("circuit", { noMessaging: true, theme: "high-contrast" });
    const out = await p.render(toyIoiCircuit());
    await out.locator('vscode-button[data-format="png"]').click();
    assert.equal(await out.locator(".export-status").textContent(), "Exports need VS Code: this view cannot reach the kernel here.");
    await p.shot("circuit-ioi-high-contrast", out);
    await p.close();
  });

  test("hostile strings render as text; a payload it cannot draw says why", async () => {
    const c = toyIoiCircuit();
    c.title = '<img src=x onerror="window.__pwned=1">';
    c.method = "<script>window.__pwned=2</script>";
    const p = await harness.open("circuit");
    const out = await p.render(c);
    assert.equal(await out.locator("h3.steer-title").textContent(), c.title);
    assert.equal(await out.locator("img, script").count(), 0, "no element was parsed from the strings");
    assert.equal(await p.page.evaluate(() => (globalThis as any).__pwned), undefined);

    const broken = toyIoiCircuit();
    broken.edges.push({ from: "a9.h9", to: "logits", score: 1, inGraph: true });
    const bad = await p.render(broken);
    assert.equal(await bad.locator(".steer-error").textContent(),
      'Cannot draw this circuit: circuit view: edge 479 (a9.h9 -> logits) names "a9.h9", which is not among the circuit\'s nodes.');
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test("a 500-node, 2,000-edge circuit is drawn whole", async () => {
    const c = largeCircuit();
    assert.equal(c.nodes.length, 500);
    assert.equal(c.edges.length, 2000);
    const p = await harness.open("circuit", { viewport: { width: 1000, height: 900 } });
    const out = await p.render(c);
    await out.locator('input[type="range"]').fill("0");
    assert.equal(await p.page.locator("svg.graph-svg g.node:not(.off)").count(), 500);
    assert.equal(await p.page.locator("svg.graph-svg path.edge:not(.hit):not(.off)").count(), 2000);
    // Wider than the output, the graph shrinks to fit; "Actual size" gives it its own width (and a scrollbar).
    const width = () => out.locator("svg.graph-svg").evaluate((el) => Math.round(el.getBoundingClientRect().width));
    const natural = Number(await out.locator("svg.graph-svg").getAttribute("width"));
    const fitted = await width();
    assert.ok(fitted < natural, `fitted width ${fitted} should be under the natural ${natural}`);
    await out.locator("vscode-checkbox.actual-size").click();
    assert.equal(await width(), natural);
    assert.deepEqual(p.errors, []);
    await p.shot("circuit-500x2000");
    await p.close();
  });
});
