/**
 * Finds the first JSON syntax error in a text and says where it is (line:column, 1-based).
 * JSON.parse's messages differ between Node versions (the extension host runs on Electron's or
 * code-server's Node, the CLI on the user's), so errors are located here instead, the same everywhere.
 */
export interface JsonSyntaxProblem {
  line: number;
  column: number;
  message: string;
}

class Stop {
  constructor(
    readonly offset: number,
    readonly message: string,
  ) {}
}

export function findJsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  let i = 0;

  const describe = (at: number): string =>
    at >= text.length ? "end of file" : JSON.stringify(text[at]);
  const fail = (message: string, at = i): never => {
    throw new Stop(at, message);
  };
  const skipSpace = (): void => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const expect = (ch: string, context: string): void => {
    skipSpace();
    if (text[i] !== ch) fail(`expected ${JSON.stringify(ch)} ${context}, found ${describe(i)}`);
    i++;
  };

  const string = (): void => {
    i++; // opening quote
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("invalid \\u escape in string");
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`invalid escape ${JSON.stringify("\\" + (e ?? ""))} in string`);
        continue;
      }
      if (c < " ") fail("unescaped control character (newline or tab) in string");
      i++;
    }
    fail("unterminated string");
  };

  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === "-") fail(`unexpected ${describe(i)}`);
    i += m![0].length;
  };

  const value = (depth: number): void => {
    if (depth > 1000) fail("nesting too deep");
    skipSpace();
    const c = text[i];
    if (c === "{") {
      i++;
      skipSpace();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        skipSpace();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${describe(i)}`);
        string();
        expect(":", "after property name");
        value(depth + 1);
        skipSpace();
        if (text[i] === ",") {
          const comma = i++;
          skipSpace();
          if (text[i] === "}") fail("trailing comma before '}'", comma);
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(`expected ',' or '}' after property value, found ${describe(i)}`);
      }
    }
    if (c === "[") {
      i++;
      skipSpace();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        skipSpace();
        if (text[i] === ",") {
          const comma = i++;
          skipSpace();
          if (text[i] === "]") fail("trailing comma before ']'", comma);
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(`expected ',' or ']' after array element, found ${describe(i)}`);
      }
    }
    if (c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    fail(i >= text.length ? "unexpected end of file" : `unexpected ${describe(i)}`);
  };

  try {
    value(0);
    skipSpace();
    if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`);
    return undefined;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    const before = text.slice(0, e.offset);
    const line = before.split("\n").length;
    const column = e.offset - (before.lastIndexOf("\n") + 1) + 1;
    return { line, column, message: e.message };
  }
}
