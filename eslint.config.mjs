// Lint: TypeScript rules plus the import directions of DEVELOPERS.md, one block per folder.
// extension -> host -> protocol (host also -> gguf, to check a model file before a notebook names it); cli -> host, models, gguf, engine; kernel -> lens -> engine -> native (lens also -> gguf, for control vectors);
// models -> gguf; renderers -> webview -> protocol. Only src/extension may import `vscode`.
import tseslint from "typescript-eslint";

const folders = ["extension", "host", "kernel", "lens", "engine", "protocol", "cli", "gguf", "models", "renderers", "webview"];
const allowed = {
  extension: ["host", "protocol"],
  host: ["protocol", "gguf"],
  kernel: ["lens", "engine", "protocol", "gguf", "models"],
  lens: ["engine", "protocol", "gguf"],
  engine: ["gguf", "protocol"],
  protocol: [],
  cli: ["host", "protocol", "models", "gguf", "engine"],
  gguf: [],
  models: ["gguf"],
  renderers: ["webview", "protocol"],
  webview: ["protocol"],
};
const where = (f) => (f === "renderers" || f === "webview" ? `${f}/**/*.ts` : `src/${f}/**/*.ts`);

function restrictions(folder) {
  const forbidden = folders.filter((f) => f !== folder && !allowed[folder].includes(f));
  const patterns = forbidden.map((f) => ({
    group: [`**/${f}`, `**/${f}/**`],
    message: `src/${folder} must not import from ${f} (see the import directions in DEVELOPERS.md).`,
  }));
  if (folder !== "extension") {
    patterns.push({ group: ["vscode"], message: "Only src/extension may import vscode." });
  }
  if (folder === "renderers" || folder === "webview") {
    patterns.push({ group: ["node:*", "fs", "path", "child_process", "os"], message: "Renderers run in a browser: no Node modules." });
  }
  return { files: [where(folder)], rules: { "no-restricted-imports": ["error", { patterns }] } };
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "native/**", "**/*.mjs", "**/*.js", ".tmp/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  ...folders.map(restrictions),
);
