// Builds the kinds of bundle: the extension host (CommonJS, Node), the kernel and CLI (Node), the notebook
// renderers (ES modules, browser), and node-llama-cpp's model downloader (an ES module: the VSIX carries
// none of node-llama-cpp's JavaScript, and its downloader is ESM with top-level imports of ESM packages).
// node-llama-cpp itself, esbuild, @resvg/resvg-js (PNG export) and the native addon stay unbundled: they
// find their binaries at run time.
import * as esbuild from "esbuild";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { generateCellTypes } from "./cell-types.mjs";

const watch = process.argv.includes("--watch");
const production = process.argv.includes("--production");

const nodeExternal = ["vscode", "node-llama-cpp", "esbuild", "@resvg/resvg-js", "*.node"];

const common = {
  bundle: true,
  sourcemap: true,
  minify: production,
  logLevel: "warning",
  legalComments: "none",
};

const configs = [
  {
    ...common,
    platform: "node",
    target: "node20",
    format: "cjs",
    external: nodeExternal,
    entryPoints: {
      extension: "src/extension/main.ts",
      kernel: "src/kernel/main.ts",
      "kernel-io": "src/kernel/io-worker.ts",
      cli: "src/cli/main.ts",
    },
    outdir: "dist",
  },
  {
    ...common,
    platform: "node",
    target: "node20",
    format: "esm",
    // ipull reflinks local copies when @reflink is installed, and falls back without it.
    external: ["@reflink/*"],
    // its dependencies are CommonJS packages that call require()
    banner: { js: 'import { createRequire as __steerCreateRequire } from "node:module"; const require = __steerCreateRequire(import.meta.url);' },
    entryPoints: { "model-downloader": "node_modules/node-llama-cpp/dist/utils/createModelDownloader.js" },
    outExtension: { ".js": ".mjs" },
    outdir: "dist",
  },
  {
    ...common,
    platform: "browser",
    target: "es2022",
    format: "esm",
    entryPoints: readdirSync("renderers")
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
      .map((f) => `renderers/${f}`),
    outdir: "dist/renderers",
    // plotly's registry imports a map library's stylesheet the massive view never uses.
    loader: { ".css": "empty" },
  },
];

for (const config of configs) {
  const entries = Array.isArray(config.entryPoints) ? config.entryPoints : Object.values(config.entryPoints);
  const missing = entries.filter((e) => !existsSync(e));
  if (missing.length) throw new Error(`build: entry points missing: ${missing.join(", ")}`);
  if (entries.length === 0) continue;
  if (watch) await (await esbuild.context(config)).watch();
  else await esbuild.build(config);
}

// Types of the cell API for completions in notebook cells (loaded by ts-plugin/).
mkdirSync("dist/types", { recursive: true });
writeFileSync("dist/types/steer-nb.d.ts", generateCellTypes());
