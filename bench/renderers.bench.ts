// Renderer benchmark in chromium (the browser harness of test/renderers/browser.ts): time to render a
// head heatmap output (payload decode, DOM, canvas paint, layout) at 32 x 32 (goal < 50 ms) and
// 80 x 64 (goal < 150 ms), and until the next frame; medians. Also the 80-layer x 64-position heatmap
// and an 80 x 64 logit lens.
// Env: BENCH_RUNS (default 15).
import { chromiumSkip, launch } from "../test/renderers/browser";
import type { LogitLensView } from "../src/protocol/views";
import { bigHeads, bigPositions } from "../test/renderers/payloads";

/** A logit lens of `layers` x `positions` cells, 5 tokens each (a DOM table, unlike the canvas heatmaps). */
function bigLens(layers: number, positions: number): LogitLensView {
  const tokens = Array.from({ length: positions }, (_, i) => ` tok${i}`);
  return {
    title: `Synthetic logit lens ${layers}x${positions}`, tokens, layers: Array.from({ length: layers }, (_, l) => `resid_post ${l}`),
    top: Array.from({ length: layers }, (_, l) => tokens.map((_t, pos) => Array.from({ length: 5 }, (_u, k) => ({ token: ` w${(l + pos + k) % 97}`, id: k, prob: 1 / (k + 2) })))),
  };
}

const runs = Number(process.env.BENCH_RUNS ?? 15);

// A string, not a function: tsx's keepNames would wrap nested functions in __name(), which the page lacks.
const MEASURE = `async ({ payload, mime, runs }) => {
  const times = [], frames = [];
  for (let i = 0; i < runs + 1; i++) {
    const el = document.createElement("div");
    document.body.replaceChildren(el);
    const t0 = performance.now();
    window.__renderer.renderOutputItem({ id: "bench-" + i, mime, json: () => payload }, el);
    el.getBoundingClientRect();
    const t1 = performance.now();
    await new Promise((r) => requestAnimationFrame(() => r()));
    const t2 = performance.now();
    if (i > 0) { times.push(t1 - t0); frames.push(t2 - t0); }
  }
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  return { render: med(times), frame: med(frames) };
}`;

async function main() {
  if (chromiumSkip) {
    console.log(`renderer bench skipped: ${chromiumSkip}`);
    return;
  }
  const b = await launch();
  try {
    console.log(`Renderer paint times in headless chromium, medians of ${runs} runs (render = renderOutputItem + layout; frame = until the next animation frame)`);
    const cases: { renderer: string; label: string; payload: unknown; mime: string; goal?: number }[] = [
      { renderer: "heads", label: "head heatmap 32 x 32", payload: bigHeads(32, 32), mime: "application/vnd.steer.heads+json", goal: 50 },
      { renderer: "heads", label: "head heatmap 80 x 64", payload: bigHeads(80, 64), mime: "application/vnd.steer.heads+json", goal: 150 },
      { renderer: "positions", label: "positions heatmap 80 x 64", payload: bigPositions(80, 64), mime: "application/vnd.steer.positions+json", goal: 150 },
      { renderer: "logit-lens", label: "logit lens 80 x 64 (DOM table)", payload: bigLens(80, 64), mime: "application/vnd.steer.logit-lens+json" },
    ];
    for (const c of cases) {
      const p = await b.open(c.renderer, { viewport: { width: 1200, height: 900 } });
      const r = (await p.page.evaluate(`(${MEASURE})(${JSON.stringify({ payload: c.payload, mime: c.mime, runs })})`)) as { render: number; frame: number };
      const goal = c.goal === undefined ? "no goal set" : `goal < ${c.goal} ms: ${r.render < c.goal ? "met" : "MISSED"}`;
      console.log(`${c.label}: render ${r.render.toFixed(1)} ms, to next frame ${r.frame.toFixed(1)} ms (${goal})`);
      if (p.errors.length) throw new Error(`page errors: ${p.errors.join("; ")}`);
      await p.close();
    }
  } finally {
    await b.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
