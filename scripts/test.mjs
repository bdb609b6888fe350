// Runs every test file under test/ (or those named on the command line) with Node's test runner.
// Node 20's runner takes explicit files only, so the glob is done here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === "fixtures" ? [] : find(p);
    return name.endsWith(".test.ts") ? [p] : [];
  });
}

const args = process.argv.slice(2);
const files = args.length ? args.flatMap((a) => (statSync(a).isDirectory() ? find(a) : [a])) : find("test");
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", ...files],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
