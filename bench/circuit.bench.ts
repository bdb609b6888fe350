/**
 * The circuit renderer on a 500-node, 2,000-edge circuit in headless chromium: time from
 * renderOutputItem to the first frame painted after it (layout, SVG building, style, layout and
 * paint), and one threshold-slider step (pruning and repaint). Goal: draw < 500 ms. Prints medians.
 *
 *   npx tsx bench/circuit.bench.ts       (BENCH_RUNS=n, default 7)
 */
import { chromiumSkip, launch } from "../test/renderers/browser";
import { largeCircuit } from "../test/renderers/fixtures/circuits";

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const GOAL_MS = 500;

// A string, so tsx leaves it alone (it would wrap inner functions in a helper the page lacks).
const MEASURE = `async ({ payload, run }) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const el = document.createElement("div");
  el.id = "bench-" + run;
  document.body.replaceChildren(el);
  await frame();
  const t0 = performance.now();
  window.__renderer.renderOutputItem({ id: el.id, mime: "application/vnd.steer.circuit+json", json: () => payload }, el);
  el.getBoundingClientRect();
  await frame();
  const draw = performance.now() - t0;
  const slider = el.querySelector('input[type="range"]');
  const t1 = performance.now();
  slider.value = String(Math.floor(Number(slider.max) * 0.5));
  slider.dispatchEvent(new Event("input"));
  await frame();
  const prune = performance.now() - t1;
  return { draw, prune, shown: el.querySelector(".counts").textContent };
}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  if (chromiumSkip) {
    console.log(`circuit bench skipped: ${chromiumSkip}`);
    return;
  }
  const payload = largeCircuit(500, 2000);
  const harness = await launch();
  try {
    const page = await harness.open("circuit", { viewport: { width: 1400, height: 900 } });
    const draws: number[] = [];
    const prunes: number[] = [];
    let shown = "";
    for (let run = 0; run < RUNS; run++) {
      const r = await page.page.evaluate(`(${MEASURE})(${JSON.stringify({ payload, run })})`) as { draw: number; prune: number; shown: string };
      draws.push(r.draw);
      prunes.push(r.prune);
      shown = r.shown;
    }
    const draw = median(draws);
    console.log(`circuit view, ${payload.nodes.length} nodes / ${payload.edges.length} edges (median of ${RUNS}):`);
    console.log(`  draw (layout + SVG + paint): ${draw.toFixed(1)} ms (goal < ${GOAL_MS} ms: ${draw < GOAL_MS ? "met" : "NOT met"})`);
    console.log(`  slider step (prune + repaint): ${median(prunes).toFixed(1)} ms, after it: ${shown}`);
    if (page.errors.length) console.log(`  page errors: ${page.errors.join("; ")}`);
  } finally {
    await harness.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
