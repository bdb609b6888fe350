// Cells share one global scope as in a REPL: every top-level declaration form stays visible to
// later cells, top-level await works, and the last expression's value is displayed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KernelClient } from "../../src/host";
import { assertOk, newClient, runCell } from "./harness";

describe("kernel scope and values", { timeout: 30_000 }, () => {
  let client: KernelClient;
  before(() => {
    client = newClient();
  });
  after(() => client.dispose());

  // Each row: a cell declaring something, then a later cell reading it, and the text it must print.
  const declarations: { form: string; declare: string; use: string; expected: string }[] = [
    { form: "const", declare: "const a1: number = 1;", use: "console.log(a1)", expected: "1\n" },
    { form: "let, reassigned later", declare: "let b1 = 1;\nb1 += 1;", use: "b1 += 10; console.log(b1)", expected: "12\n" },
    { form: "var", declare: "var c1 = 'v';", use: "console.log(c1)", expected: "v\n" },
    { form: "function (hoisted, used before its line)", declare: "console.log(f1());\nfunction f1(): string { return 'f'; }", use: "console.log(f1())", expected: "f\n" },
    { form: "class", declare: "class Point { constructor(public x: number) {} }", use: "console.log(new Point(3).x)", expected: "3\n" },
    { form: "object and array destructuring", declare: "const { d1, nested: [d2, ...rest1] } = { d1: 'a', nested: [1, 2, 3] };", use: "console.log(d1, d2, rest1)", expected: "a 1 [ 2, 3 ]\n" },
    { form: "import default and named", declare: 'import path, { join as joinPath } from "node:path";', use: "console.log(path.sep, joinPath('a', 'b'))", expected: "/ a/b\n" },
    { form: "import namespace", declare: 'import * as os1 from "node:os";', use: "console.log(typeof os1.cpus)", expected: "function\n" },
    { form: "import from steer-nb", declare: 'import steerApi, { display as show } from "steer-nb";', use: "console.log(steerApi === steer, show === display)", expected: "true true\n" },
    { form: "enum", declare: "enum Color { Red, Green }", use: "console.log(Color.Green, Color[0])", expected: "1 Red\n" },
    { form: "export const (export dropped)", declare: "export const e1 = 5;", use: "console.log(e1)", expected: "5\n" },
  ];
  for (const row of declarations) {
    test(`${row.form} stays visible to later cells`, async () => {
      const first = await runCell(client, row.declare);
      assertOk(first, row.declare);
      const second = await runCell(client, row.use);
      assertOk(second, row.use);
      assert.equal(second.text.slice(-row.expected.length), row.expected, `after: ${row.declare}`);
    });
  }

  test("re-running a cell that declares const works", async () => {
    for (const value of [1, 2]) {
      const run = await runCell(client, `const again = ${value};\nagain`);
      assertOk(run, "const again");
      assert.equal(run.text, String(value));
    }
  });

  // The value of a final expression is shown as in a REPL; declarations and undefined show nothing.
  const lastValues: { code: string; items: { mime: string; data: unknown }[] }[] = [
    { code: "1 + 1", items: [{ mime: "text/plain", data: "2" }] },
    { code: "await new Promise((r) => setTimeout(() => r(42), 20))", items: [{ mime: "text/plain", data: "42" }] },
    { code: "'a string'", items: [{ mime: "text/plain", data: "a string" }] },
    { code: "({ a: 1, b: [true] })", items: [{ mime: "application/json", data: { a: 1, b: [true] } }, { mime: "text/plain", data: "{ a: 1, b: [ true ] }" }] },
    { code: "null", items: [{ mime: "text/plain", data: "null" }] },
    { code: "new Map([[1, 'x']])", items: [{ mime: "text/plain", data: "Map(1) { 1 => 'x' }" }] },
    { code: "const notShown = 3", items: [] },
    { code: "undefined", items: [] },
    { code: "function notShownEither() {}", items: [] },
    { code: "for (const i of [1]) { i; }", items: [] },
  ];
  for (const row of lastValues) {
    test(`last expression: ${row.code}`, async () => {
      const run = await runCell(client, row.code);
      assertOk(run, row.code);
      assert.deepEqual(run.outputs.map((o) => o.items).flat(), row.items);
    });
  }

  test("execution order counts up within a kernel", async () => {
    const a = await runCell(client, "1");
    const b = await runCell(client, "2");
    assert.equal(a.outcome.status, "ok");
    assert.equal(b.outcome.status, "ok");
    assert.equal((b.outcome as { order: number }).order, (a.outcome as { order: number }).order + 1);
  });

  test("variables lists top-level names with type and summary", async () => {
    assertOk(await runCell(client, "const varsTable = [1, 2, 3];\nlet varsName = 'steer';"), "vars");
    const outcome = await client.variables();
    assert.equal(outcome.status, "ok");
    const byName = new Map(outcome.status === "ok" ? outcome.variables.map((v) => [v.name, v]) : []);
    assert.deepEqual(byName.get("varsTable"), { name: "varsTable", type: "Array(3)", summary: "[ 1, 2, 3 ]" });
    assert.deepEqual(byName.get("varsName"), { name: "varsName", type: "string", summary: "'steer'" });
    assert.equal(byName.has("__steer_check"), false, "kernel internals are not user variables");
  });
});
