// The toolkit in the kernel, as a notebook and its views use it: a sweep shows as its view with a
// markdown fallback, a click-to-patch request (renderer -> host -> kernel) gets the patched metric back,
// and a request for a result the kernel does not hold gets "unknown-result".
import assert from "node:assert/strict";
import { test } from "node:test";
import { VIEW_MIMES, VIEW_RENDERERS, type CircuitView, type ExportResult, type HeadsView, type RerunAnswer, type RerunRequest } from "../../src/protocol";
import { assertOk, newClient, runCell } from "./harness";

const sweep = [
  "const model = await steer.load();",
  'const clean = "When Mary and John went to the store, John gave a drink to";',
  'const corrupt = "When Mary and John went to the store, Mary gave a drink to";',
  'const sweep = await steer.patch.heads(model, { clean, corrupt, metric: steer.metrics.logitDiff(" Mary", " John") });',
  "sweep",
].join("\n");

test("a head sweep displays as the heads view, and clicking the name mover returns the patched metric", { timeout: 90_000 }, async () => {
  const client = newClient();
  try {
    const run = await runCell(client, sweep);
    assertOk(run, sweep);
    const items = run.outputs.flatMap((o) => o.items);
    const view = items.find((i) => i.mime === VIEW_MIMES.heads)?.data as HeadsView | undefined;
    assert.ok(view, `outputs: ${items.map((i) => i.mime).join(", ")}`);
    assert.match(String(items.find((i) => i.mime === "text/markdown")?.data), /a3\.h2 1/, "the markdown fallback names the top head");
    assert.equal(run.outputs.find((o) => o.items.some((i) => i.mime === VIEW_MIMES.heads))?.metadata?.summary, "head heatmap 4x4, top a3.h2 1");
    assert.ok(view.rerun, "the view can ask for re-runs");

    const answers: RerunAnswer[] = [];
    client.onDidReceiveRendererMessage((m) => answers.push(m.message as RerunAnswer));
    const ask = (request: Partial<RerunRequest>) =>
      client.postRendererMessage(VIEW_RENDERERS.heads, { type: "steer.rerun", requestId: "q1", resultId: view.rerun!.resultId, kernelSession: view.rerun!.kernelSession, target: { heads: [{ layer: 3, head: 2 }] }, mode: "patch", ...request });
    assert.ok(ask({}));
    const deadline = Date.now() + 20_000;
    while (!answers.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const [answer] = answers;
    assert.equal(answer?.type, "steer.rerun-result");
    assert.ok(answer.outcome.ok, JSON.stringify(answer.outcome));
    if (answer.outcome.ok) {
      assert.ok(answer.outcome.metricBefore < -10 && answer.outcome.metricAfter > 10, JSON.stringify(answer.outcome));
      assert.equal(answer.outcome.topAfter[0].token, " Mary");
    }
    ask({ requestId: "q2", kernelSession: "another-session" });
    while (answers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(answers[1].outcome.ok ? "ok" : answers[1].outcome.reason, "unknown-result");
  } finally {
    await client.dispose();
  }
});

test("a circuit view's export request gets the file's contents from the lens exporters", { timeout: 90_000 }, async () => {
  const client = newClient();
  try {
    const code = [
      "const model = await steer.load();",
      'const c = await steer.circuit.discover(model, { clean: "When Mary and John went to the store, John gave a drink to", corrupt: "When Mary and John went to the store, Anna gave a drink to", metric: steer.metrics.logitDiff(" Mary", " John") });',
      "c",
    ].join("\n");
    const run = await runCell(client, code);
    assertOk(run, code);
    const view = run.outputs.flatMap((o) => o.items).find((i) => i.mime === VIEW_MIMES.circuit)?.data as CircuitView;
    assert.ok(view?.nodes.some((n) => n.id === "a3.h2" && n.inGraph), "the circuit view holds the name mover");
    const answers: ExportResult[] = [];
    client.onDidReceiveRendererMessage((m) => answers.push(m.message as ExportResult));
    for (const format of ["svg", "png", "bogus"]) client.postRendererMessage("steer-circuit", { type: "steer.export-circuit", requestId: format, outputId: "o1", format, circuit: view });
    const deadline = Date.now() + 30_000;
    while (answers.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const by = new Map(answers.map((a) => [a.requestId, a]));
    const svg = by.get("svg");
    assert.ok(svg?.ok && svg.encoding === "utf8" && svg.data.includes("<svg") && svg.data.includes("a3.h2"), JSON.stringify(svg).slice(0, 300));
    const png = by.get("png");
    assert.ok(png?.ok && png.encoding === "base64" && Buffer.from(png.data, "base64").subarray(1, 4).toString() === "PNG", "a PNG comes back as base64");
    const bad = by.get("bogus");
    assert.ok(bad && !bad.ok && /Unknown export format/.test(bad.message));
  } finally {
    await client.dispose();
  }
});
