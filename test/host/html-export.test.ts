// The HTML export's pure function: escaping, one module script per view kind, payloads that survive any string.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jsonForScript, notebookToHtml, rendererFile, viewsUsed } from "../../src/host/html-export";
import { escapeHtml } from "../../src/protocol";
import { DISPLAY_ID_KEY, ERROR_MIME, PROGRESS_ID_PREFIX, STDOUT_MIME, VIEW_MIMES, type CellOutput, type NotebookCellData, type NotebookData } from "../../src/protocol";

const HOSTILE = `<img src=x onerror=alert(1)></script><script>alert(2)</script>`;
const bundle = (name: string) => `function ${name}Impl(ctx) { return { renderOutputItem() {} }; }\nexport {\n  ${name}Impl as activate\n};\n//# sourceMappingURL=${name}.js.map\n`;

function cell(kind: "code" | "markdown", source: string, outputs: CellOutput[] = []): NotebookCellData {
  return { kind, language: kind === "code" ? "typescript" : "markdown", source, metadata: {}, outputs };
}
function nb(cells: NotebookCellData[], metadata: Record<string, unknown> = {}): NotebookData {
  return { format: "steer-nb/1", metadata, cells };
}
const view = (mime: string, data: unknown): CellOutput => ({ items: [{ mime: "text/markdown", data: "fallback" }, { mime, data }] });

describe("notebookToHtml", () => {
  test("notebook strings stay text: markdown cells, code, console text, errors, JSON and the title", () => {
    const html = notebookToHtml(
      nb([
        cell("markdown", `# Heading\n\n${HOSTILE} and [link](javascript:alert(3))`),
        cell("code", `const s = "${HOSTILE}";`, [
          { items: [{ mime: STDOUT_MIME, data: HOSTILE }] },
          { items: [{ mime: "text/plain", data: HOSTILE }] },
          { items: [{ mime: "application/json", data: { s: HOSTILE } }] },
          { items: [{ mime: ERROR_MIME, data: { name: "Error", message: HOSTILE, stack: "" } }] },
          { items: [{ mime: "text/markdown", data: HOSTILE }] },
        ]),
      ], { title: HOSTILE }),
      { bundles: {} },
    );
    assert.doesNotMatch(html, /<img src=x/, "a raw <img from the notebook got into the page");
    assert.doesNotMatch(html, /<script>alert/, "a raw <script> from the notebook got into the page");
    assert.doesNotMatch(html, /href="javascript:/, "a javascript: link got into the page");
    assert.match(html, /<h1>Heading<\/h1>/);
    const escaped = escapeHtml(HOSTILE);
    // title twice (head and h1), markdown cell, code, stdout, text/plain, JSON, error, markdown output
    assert.equal(html.split(escaped).length - 1, 9, "expected the hostile string escaped 9 times");
    assert.equal((html.match(/<script/g) ?? []).length, 1, "expected only the theme script, no view scripts");
  });

  test("one module script per view kind used, each payload in its own JSON element, and a view hides its markdown fallback", () => {
    const notebook = nb([
      cell("code", "a", [view(VIEW_MIMES.heads, { n: 1 }), view(VIEW_MIMES.heads, { n: 2 })]),
      cell("code", "b", [view(VIEW_MIMES.circuit, { n: 3 })]),
    ]);
    assert.deepEqual(viewsUsed(notebook), ["heads", "circuit"]);
    const html = notebookToHtml(notebook, { bundles: { heads: bundle("heads"), circuit: bundle("circuit") } });
    assert.deepEqual([...html.matchAll(/<script type="module" data-steer-renderer="(\w+)">/g)].map((m) => m[1]), ["heads", "circuit"]);
    assert.deepEqual([...html.matchAll(/data-steer-view="(\w+)"><\/div>/g)].map((m) => m[1]), ["heads", "heads", "circuit"]);
    assert.match(html, /const renderer = headsImpl\(\{\}\);/, "expected the bundle's local activate called with an empty context");
    assert.doesNotMatch(html, /export \{|sourceMappingURL/, "the bundle's export and source map comment must be gone");
    assert.doesNotMatch(html, /fallback/, "the markdown fallback of a view was shown");
  });

  test("a payload survives </script> and line separators in its strings", () => {
    const payload = { tokens: ["</script><script>alert(1)</script>", "a\u2028b", "<!--"] };
    const html = notebookToHtml(nb([cell("code", "x", [view(VIEW_MIMES.attention, payload)])]), { bundles: { attention: bundle("attention") } });
    const m = /<script type="application\/json" id="steer-view-1-payload">([\s\S]*?)<\/script>/.exec(html);
    assert.ok(m, "no payload element for the view");
    assert.deepEqual(JSON.parse(m[1]), payload);
    assert.equal(jsonForScript("</script>"), '"\\u003c/script>"');
  });

  test("a bundle's own </script> and <!-- cannot end its element, and mean the same to JavaScript", () => {
    const code = `const s = "</script><!--";\nfunction act() { return { renderOutputItem() {}, s }; }\nexport { act as activate };\n`;
    const html = notebookToHtml(nb([cell("code", "x", [view(VIEW_MIMES.heads, {})])]), { bundles: { heads: code } });
    const m = /<script type="module" data-steer-renderer="heads">([\s\S]*?)<\/script>/.exec(html);
    assert.ok(m, "no module script for the heads view");
    assert.doesNotMatch(m[1], /<\/script|<!--/i);
    const literal = /const s = ("[^"]*");/.exec(m[1]);
    assert.equal(literal && (0, eval)(literal[1]), "</script><!--", `expected the literal to keep its value, got ${literal?.[1]}`);
  });

  test("a view whose bundle was not given is a clear error naming the bundle and the fix", () => {
    assert.throws(() => notebookToHtml(nb([cell("code", "x", [view(VIEW_MIMES.logitLens, {})])]), { bundles: {} }), /needs the renderer bundles logit-lens\.js: build them with "npm run build"/);
    assert.throws(() => notebookToHtml(nb([cell("code", "x", [view(VIEW_MIMES.heads, {})])]), { bundles: { heads: "const x = 1;" } }), /heads\.js does not end with an export of activate/);
  });

  test("images inline: PNG as data, SVG base64 in an <img> so its scripts cannot run", () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`;
    const html = notebookToHtml(nb([cell("code", "x", [{ items: [{ mime: "image/png", data: "iVBORw0KGgo=" }] }, { items: [{ mime: "image/svg+xml", data: svg }] }])]), { bundles: {} });
    assert.match(html, /<img alt="image output" src="data:image\/png;base64,iVBORw0KGgo=">/);
    assert.ok(html.includes(`src="data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}"`), "expected the SVG as a base64 <img>");
    assert.doesNotMatch(html, /<svg/);
  });

  test("a progress bar shows as its text line; other HTML outputs stay in a sandboxed frame", () => {
    const bar = (id: string): CellOutput => ({
      items: [{ mime: "text/html", data: `<div>${HOSTILE}</div>` }, { mime: "text/plain", data: "head sweep: 16/16 (100%) <done>" }],
      metadata: { [DISPLAY_ID_KEY]: id },
    });
    const html = notebookToHtml(nb([cell("code", "x", [bar(`${PROGRESS_ID_PREFIX}7`), bar("mine")])]), { bundles: {} });
    assert.match(html, /<p class="output progress">head sweep: 16\/16 \(100%\) &lt;done&gt;<\/p>/);
    assert.equal(html.match(/<iframe class="html-output" sandbox/g)?.length, 1, "expected the non-progress display in one sandboxed frame");
  });

  test("renderer files follow the package.json renderer ids", () => {
    assert.equal(rendererFile("logitLens"), "logit-lens.js");
    assert.equal(rendererFile("heads"), "heads.js");
  });
});
