// The JSON error locator must agree with JSON.parse about what is valid, or a valid notebook could be
// rejected (or a broken one reported without a place).
import { test } from "node:test";
import assert from "node:assert/strict";
import { findJsonSyntaxError } from "../../src/protocol/json-syntax";

const INPUTS = [
  `{}`, `[]`, `{"a":[1,2.5e-3,-0,true,false,null,"\\u00e9\\n\\"\\\\\\/"]}`, ` \n{ "a" : { } } \n`, `"str"`, `0`, `-12.5E+3`,
  ``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{'a':1}`, `{"a":01}`, `{"a":.5}`, `{"a":1.}`, `{"a":-}`,
  `{"a":"\\x"}`, `{"a":"\\u12"}`, `{"a":"tab\there"}`, `{"a":tru}`, `{"a":NaN}`, `{} {}`, `{"a":1}x`, `[`, `"unterminated`,
];

for (const text of INPUTS) {
  test(`agrees with JSON.parse on ${JSON.stringify(text)}`, () => {
    let parseOk = true;
    try {
      JSON.parse(text);
    } catch {
      parseOk = false;
    }
    const problem = findJsonSyntaxError(text);
    assert.equal(problem === undefined, parseOk, `JSON.parse ${parseOk ? "accepts" : "rejects"} it, locator says ${JSON.stringify(problem)}`);
  });
}

const PLACES: { text: string; line: number; column: number }[] = [
  { text: `{\n  "a": 1\n  "b": 2\n}`, line: 3, column: 3 },
  { text: `[1,\n\n   ]`, line: 1, column: 3 },
  { text: `{"a": [1, 2}`, line: 1, column: 12 },
];

for (const p of PLACES) {
  test(`points at line ${p.line} column ${p.column} in ${JSON.stringify(p.text)}`, () => {
    const problem = findJsonSyntaxError(p.text);
    assert.deepEqual(problem && { line: problem.line, column: problem.column }, { line: p.line, column: p.column });
  });
}
