// The .steer-nb format at its boundary: text in, NotebookData out, and back. Driven by tables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseNotebook, serializeNotebook, NotebookFormatError, type NotebookData } from "../../src/protocol/index";

/** Every known field plus unknown fields at every level, in canonical order. */
const FULL = `{
  "format": "steer-nb/1",
  "metadata": {
    "model": "stories260K.gguf",
    "future": {
      "nested": [
        1,
        2
      ]
    }
  },
  "cells": [
    {
      "kind": "markdown",
      "language": "markdown",
      "source": [
        "# Title\\n",
        "text"
      ],
      "metadata": {},
      "cellUnknown": true
    },
    {
      "kind": "code",
      "language": "typescript",
      "source": [
        "const x = 1;\\r\\n",
        "console.log(x);\\n",
        "display({ a: 1 });"
      ],
      "metadata": {
        "tags": [
          "setup"
        ]
      },
      "execution": {
        "order": 3,
        "success": true,
        "durationMs": 12.5,
        "executionUnknown": "kept"
      },
      "outputs": [
        {
          "items": [
            {
              "mime": "application/vnd.code.notebook.stdout",
              "data": "1\\n"
            }
          ],
          "metadata": {
            "stream": "stdout"
          }
        },
        {
          "items": [
            {
              "mime": "application/vnd.steer.tensor+json",
              "data": {
                "shape": [
                  2
                ],
                "values": [
                  0.5,
                  -1
                ]
              },
              "itemUnknown": 7
            },
            {
              "mime": "image/png",
              "data": "iVBORw0KGgo="
            },
            {
              "mime": "text/html",
              "data": "<b>hi</b>"
            }
          ],
          "outputUnknown": [
            "x"
          ]
        }
      ],
      "anotherCellUnknown": null
    },
    {
      "kind": "code",
      "language": "typescript",
      "source": [],
      "metadata": {},
      "outputs": []
    }
  ],
  "topUnknown": {
    "v": 2
  }
}
`;

test("a file using every field, unknown ones at every level, re-serializes byte for byte", () => {
  assert.equal(serializeNotebook(parseNotebook(FULL, "full.steer-nb")), FULL);
});

test("parsed values carry every field with its type", () => {
  const nb = parseNotebook(FULL);
  assert.deepEqual(nb.metadata, { model: "stories260K.gguf", future: { nested: [1, 2] } });
  assert.deepEqual(nb.topUnknown, { v: 2 });
  const [md, code, empty] = nb.cells;
  assert.equal(md.kind, "markdown");
  assert.equal(md.source, "# Title\ntext");
  assert.deepEqual(md.outputs, []);
  assert.equal(md.cellUnknown, true);
  assert.equal(code.source, "const x = 1;\r\nconsole.log(x);\ndisplay({ a: 1 });");
  assert.deepEqual(code.execution, { order: 3, success: true, durationMs: 12.5, executionUnknown: "kept" });
  assert.equal(code.anotherCellUnknown, null);
  assert.deepEqual(code.outputs[0], { items: [{ mime: "application/vnd.code.notebook.stdout", data: "1\n" }], metadata: { stream: "stdout" } });
  assert.deepEqual(code.outputs[1].items[0], { mime: "application/vnd.steer.tensor+json", data: { shape: [2], values: [0.5, -1] }, itemUnknown: 7 });
  assert.equal(code.outputs[1].metadata, undefined, "absent output metadata stays absent");
  assert.deepEqual((code.outputs[1] as unknown as Record<string, unknown>).outputUnknown, ["x"]);
  assert.equal(empty.source, "");
  assert.equal(empty.execution, undefined);
});

test("values built in code round-trip through text (deep equal) and serialize stably", () => {
  const nb: NotebookData = {
    format: "steer-nb/1",
    metadata: { a: 1 },
    cells: [
      { kind: "code", language: "typescript", source: "a\n\nb\n", metadata: {}, outputs: [{ items: [{ mime: "application/json", data: [1, "two", null] }], metadata: {} }], execution: { order: 1, success: false, durationMs: 0 } },
      { kind: "markdown", language: "markdown", source: "ü — 😀\n", metadata: { x: "y" }, outputs: [] },
    ],
  };
  const text = serializeNotebook(nb);
  const back = parseNotebook(text);
  assert.deepEqual(back, nb);
  assert.equal(serializeNotebook(back), text);
  assert.ok(text.endsWith("}\n") && !text.endsWith("\n\n"), "exactly one trailing newline");
});

test("known keys are written in the fixed order whatever order they were read in", () => {
  const scrambled = `{"cells":[{"outputs":[],"x":1,"metadata":{},"source":"s","kind":"code","language":"typescript"}],"metadata":{},"format":"steer-nb/1"}`;
  const text = serializeNotebook(parseNotebook(scrambled));
  assert.deepEqual(Object.keys(JSON.parse(text)), ["format", "metadata", "cells"]);
  assert.deepEqual(Object.keys(JSON.parse(text).cells[0]), ["kind", "language", "source", "metadata", "outputs", "x"]);
});

const DEFAULTS: { name: string; text: string; expect: NotebookData }[] = [
  { name: "empty file (VS Code creates new notebooks empty)", text: "", expect: { format: "steer-nb/1", metadata: {}, cells: [] } },
  { name: "whitespace and a BOM only", text: "\uFEFF \n", expect: { format: "steer-nb/1", metadata: {}, cells: [] } },
  {
    name: "minimal cells get language, source, metadata, outputs",
    text: `{"format":"steer-nb/1","cells":[{"kind":"code"},{"kind":"markdown","source":"x"}]}`,
    expect: {
      format: "steer-nb/1",
      metadata: {},
      cells: [
        { kind: "code", language: "typescript", source: "", metadata: {}, outputs: [] },
        { kind: "markdown", language: "markdown", source: "x", metadata: {}, outputs: [] },
      ],
    },
  },
];

for (const c of DEFAULTS) {
  test(`defaults: ${c.name}`, () => assert.deepEqual(parseNotebook(c.text), c.expect));
}

const nb = (cells: string) => `{"format":"steer-nb/1","metadata":{},"cells":[${cells}]}`;

const CORRUPT: { name: string; text: string; message: string }[] = [
  { name: "truncated JSON", text: `{\n  "format": "steer-nb/1",\n  "cells": [`, message: "nb.steer-nb:3:13: invalid JSON: unexpected end of file" },
  { name: "missing comma", text: `{\n  "format": "steer-nb/1"\n  "cells": []\n}`, message: `nb.steer-nb:3:3: invalid JSON: expected ',' or '}' after property value, found "\\""` },
  { name: "trailing comma", text: `{"format": "steer-nb/1", "cells": [],}`, message: "nb.steer-nb:1:37: invalid JSON: trailing comma before '}'" },
  { name: "raw newline in a string", text: `{"format": "steer-nb/1", "cells": [{"kind": "code", "source": "a\nb"}]}`, message: "nb.steer-nb:1:65: invalid JSON: unescaped control character (newline or tab) in string" },
  { name: "not an object", text: `[]`, message: "nb.steer-nb: the file must contain a JSON object, got an array" },
  { name: "no format", text: `{"cells": []}`, message: `nb.steer-nb: the file is missing the required field "format" (expected "steer-nb/1").` },
  { name: "a Jupyter notebook", text: `{"nbformat": 4, "cells": []}`, message: `nb.steer-nb: the file is missing the required field "format" (expected "steer-nb/1"). This looks like a Jupyter notebook (.ipynb), not a Steer notebook.` },
  {
    name: "newer version",
    text: `{"format": "steer-nb/2", "cells": []}`,
    message: `nb.steer-nb: the file has format "steer-nb/2", but this build of Steer Notebooks reads only "steer-nb/1". The file was probably written by a newer Steer Notebooks: update the extension (or steer-nb CLI) to open it.`,
  },
  { name: "foreign format", text: `{"format": "ipynb", "cells": []}`, message: `nb.steer-nb: format must be "steer-nb/1", got "ipynb"` },
  { name: "missing cells", text: `{"format": "steer-nb/1"}`, message: `nb.steer-nb: the file is missing the required field "cells"` },
  { name: "cells not an array", text: `{"format": "steer-nb/1", "cells": {}}`, message: "nb.steer-nb: cells must be an array, got an object" },
  { name: "metadata not an object", text: `{"format": "steer-nb/1", "metadata": [], "cells": []}`, message: "nb.steer-nb: metadata must be an object, got an array" },
  { name: "cell not an object", text: nb(`{"kind":"code"}, 3`), message: "nb.steer-nb: cells[1] must be an object, got number 3" },
  { name: "missing kind", text: nb(`{"source":""}`), message: `nb.steer-nb: cells[0] is missing the required field "kind"` },
  { name: "bad kind", text: nb(`{"kind":"code"},{"kind":"code"},{"kind":"cod"}`), message: `nb.steer-nb: cells[2].kind must be "code" or "markdown", got "cod"` },
  { name: "bad language", text: nb(`{"kind":"code","language":""}`), message: `nb.steer-nb: cells[0].language must be a non-empty string, got ""` },
  { name: "bad source", text: nb(`{"kind":"code","source":["a",1]}`), message: "nb.steer-nb: cells[0].source must be a string or an array of strings, got an array" },
  { name: "outputs not an array", text: nb(`{"kind":"code","outputs":"x"}`), message: `nb.steer-nb: cells[0].outputs must be an array, got the string "x"` },
  { name: "output without items", text: nb(`{"kind":"code","outputs":[{}]}`), message: `nb.steer-nb: cells[0].outputs[0] is missing the required field "items"` },
  { name: "item without mime", text: nb(`{"kind":"code","outputs":[{"items":[{"data":"x"}]}]}`), message: `nb.steer-nb: cells[0].outputs[0].items[0] is missing the required field "mime"` },
  { name: "item with a bad mime", text: nb(`{"kind":"code","outputs":[{"items":[{"mime":"text","data":"x"}]}]}`), message: `nb.steer-nb: cells[0].outputs[0].items[0].mime must be a mime type like "text/plain", got "text"` },
  { name: "item without data", text: nb(`{"kind":"code","outputs":[{"items":[{"mime":"text/plain"}]}]}`), message: `nb.steer-nb: cells[0].outputs[0].items[0] is missing the required field "data"` },
  { name: "text item with non-string data", text: nb(`{"kind":"code","outputs":[{"items":[{"mime":"text/plain","data":{"a":1}}]}]}`), message: `nb.steer-nb: cells[0].outputs[0].items[0].data must be a string for text mime "text/plain", got an object` },
  { name: "binary item not base64", text: nb(`{"kind":"code","outputs":[{"items":[{"mime":"image/png","data":"not base64!"}]}]}`), message: `nb.steer-nb: cells[0].outputs[0].items[0].data must be a base64 string for binary mime "image/png", got a string that is not base64` },
  { name: "execution without order", text: nb(`{"kind":"code","execution":{"success":true,"durationMs":1}}`), message: `nb.steer-nb: cells[0].execution is missing the required field "order"` },
  { name: "execution with a bad success", text: nb(`{"kind":"code","execution":{"order":1,"success":"yes","durationMs":1}}`), message: `nb.steer-nb: cells[0].execution.success must be true or false, got "yes"` },
  { name: "negative duration", text: nb(`{"kind":"code","execution":{"order":1,"success":true,"durationMs":-1}}`), message: `nb.steer-nb: cells[0].execution.durationMs must be a non-negative number, got -1` },
];

for (const c of CORRUPT) {
  test(`corrupt: ${c.name}`, () => {
    assert.throws(
      () => parseNotebook(c.text, "nb.steer-nb"),
      (e: unknown) => {
        assert.ok(e instanceof NotebookFormatError, `expected NotebookFormatError, got ${String(e)}`);
        assert.equal(e.message, c.message);
        return true;
      },
    );
  });
}

test("every JSON syntax error carries line and column", () => {
  for (const c of CORRUPT.filter((x) => x.message.includes("invalid JSON"))) {
    try {
      parseNotebook(c.text, "nb.steer-nb");
      assert.fail(`${c.name}: parsed`);
    } catch (e) {
      assert.ok(e instanceof NotebookFormatError);
      assert.equal(typeof e.line, "number", c.name);
      assert.equal(typeof e.column, "number", c.name);
    }
  }
});
