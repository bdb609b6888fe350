// `steer-nb export --html` end to end: the built CLI on the executed getting-started sample (plus a hostile
// cell), the page opened from file:// in chromium with every other request blocked, every view drawn.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { parseNotebook, serializeNotebook, STDOUT_MIME } from "../../src/protocol";
import { chromiumSkip } from "../renderers/browser";

const repoRoot = resolve(__dirname, "../..");
const bin = join(repoRoot, "bin", "steer-nb.js");
const HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>";

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("steer-nb export --html", { timeout: 240_000 }, () => {
  let dir: string;
  before(() => {
    if (!existsSync(join(repoRoot, "dist", "cli.js"))) throw new Error("dist/cli.js is missing: run `npm run build` before the CLI tests.");
    dir = mkdtempSync(join(tmpdir(), "steer-nb-export-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("usage errors name the problem", () => {
    const noHtml = cli(["export", join(repoRoot, "samples", "getting-started.steer-nb")]);
    assert.equal(noHtml.status, 2, noHtml.stderr);
    assert.match(noHtml.stderr, /missing --html <out\.html>/);
    const missing = cli(["export", join(dir, "nope.steer-nb"), "--html", join(dir, "nope.html")]);
    assert.equal(missing.status, 2, missing.stderr);
    assert.match(missing.stderr, /nope\.steer-nb: no such file/);
    assert.equal(existsSync(join(dir, "nope.html")), false, "nothing is written on a usage error");
    assert.match(cli(["export", "--help"]).stdout, /^Usage: steer-nb export <notebook\.steer-nb> --html <out\.html>/);
  });

  test("the executed sample exports to one page that draws every view offline and keeps hostile strings as text", { skip: chromiumSkip }, async () => {
    const executed = join(dir, "gs.steer-nb");
    const ran = cli(["run", join(repoRoot, "samples", "getting-started.steer-nb"), "--out", executed, "--quiet"]);
    assert.equal(ran.status, 0, `steer-nb run failed: ${ran.stderr}`);
    const nb = parseNotebook(readFileSync(executed, "utf8"), executed);
    nb.cells.push(
      { kind: "markdown", language: "markdown", source: `## Hostile\n\n${HOSTILE}`, metadata: {}, outputs: [] },
      { kind: "code", language: "typescript", source: "console.log(hostile)", metadata: {}, outputs: [{ items: [{ mime: STDOUT_MIME, data: HOSTILE }] }] },
    );
    writeFileSync(executed, serializeNotebook(nb));
    const html = join(dir, "gs.html");
    const exported = cli(["export", executed, "--html", html]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stdout, /^wrote .*gs\.html \(\d+ cells, \d+ KiB\)/);

    const browser: Browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const url = pathToFileURL(html).href;
      const blocked: string[] = [];
      const errors: string[] = [];
      const dialogs: string[] = [];
      await page.route("**/*", (route) => {
        if (route.request().url() === url) return route.continue();
        blocked.push(route.request().url());
        return route.abort();
      });
      page.on("request", (r) => {
        if (r.url() !== url && !r.url().startsWith("data:") && !blocked.includes(r.url())) blocked.push(r.url());
      });
      page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
      page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
      page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
      await page.goto(url);

      await page.locator("svg.graph-svg g.node").first().waitFor({ timeout: 20_000 });
      const counts = await page.evaluate(`({
        headsGrids: document.querySelectorAll('[data-steer-view="heads"] .steer-grid').length,
        headsOutputs: document.querySelectorAll('div[data-steer-view="heads"]').length,
        circuitNodes: document.querySelectorAll('[data-steer-view="circuit"] svg.graph-svg g.node').length,
        massivePlots: document.querySelectorAll('[data-steer-view="massive"] .plot').length,
        attentionMinis: document.querySelectorAll('[data-steer-view="attention"] .steer-mini').length,
        lensRows: document.querySelectorAll('[data-steer-view="logitLens"] tbody tr').length,
        componentsViews: document.querySelectorAll('[data-steer-view="components"] .steer-root').length,
        h2: [...document.querySelectorAll("main > section .markdown h2")].map((h) => h.textContent),
        hostileImgs: document.querySelectorAll('img[src="x"]').length,
        hostileText: [...document.querySelectorAll("main p, main pre")].filter((e) => e.textContent.includes(${JSON.stringify(HOSTILE)})).length,
        patchNote: document.querySelector('[data-steer-view="heads"] .steer-patch')?.textContent ?? "",
      })`) as Record<string, any>;
      mkdirSync(join(repoRoot, ".tmp"), { recursive: true });
      await page.screenshot({ path: join(repoRoot, ".tmp", "html-export.png"), fullPage: true });

      assert.deepEqual(errors, [], "expected no page errors");
      assert.deepEqual(blocked, [], "expected no request but the file itself");
      assert.deepEqual(dialogs, [], "a hostile string ran as script");
      assert.ok(counts.headsOutputs >= 1 && counts.headsGrids === counts.headsOutputs, `expected a .steer-grid in each of the heads outputs, got ${counts.headsGrids} grids in ${counts.headsOutputs}`);
      assert.ok(counts.circuitNodes >= 2, `expected circuit nodes, got ${counts.circuitNodes}`);
      assert.ok(counts.massivePlots >= 1, `expected the massive view's plots, got ${counts.massivePlots}`);
      assert.ok(counts.attentionMinis >= 1, `expected the attention view's head thumbnails, got ${counts.attentionMinis}`);
      assert.ok(counts.lensRows >= 1, `expected logit lens rows, got ${counts.lensRows}`);
      assert.ok(counts.componentsViews >= 1, `expected the components view, got ${counts.componentsViews}`);
      for (const h of ["Hook points", "The circuit", "Hostile"]) assert.ok(counts.h2.includes(h), `expected the heading "${h}" in ${JSON.stringify(counts.h2)}`);
      assert.equal(counts.hostileImgs, 0, "the hostile <img> became an element");
      assert.equal(counts.hostileText, 2, "expected the hostile string as text in the markdown cell and the output");
      assert.match(counts.patchNote, /needs this notebook open in VS Code/);

      // A browser in dark mode gets VS Code's dark colours, and the views see a dark theme.
      await page.emulateMedia({ colorScheme: "dark" });
      await page.reload();
      await page.locator("svg.graph-svg g.node").first().waitFor({ timeout: 20_000 });
      const dark = await page.evaluate(`[document.body.className, getComputedStyle(document.body).backgroundColor]`);
      assert.deepEqual(dark, ["vscode-dark", "rgb(31, 31, 31)"]);
      await page.screenshot({ path: join(repoRoot, ".tmp", "html-export-dark.png") });
      assert.deepEqual(errors, [], "expected no page errors in the dark theme");
      assert.deepEqual(blocked, [], "expected no request but the file itself in the dark theme");
    } finally {
      await browser.close();
    }
  });
});
