// Packages the extension as a VSIX for this platform (linux-x64). The kernel needs, at run time:
// the bundles (dist/), the native addon, the prebuilt llama.cpp libraries it links (found through the
// addon's rpath at node_modules/@node-llama-cpp/<platform>/bins/<platform>), esbuild (cells compile at
// run time), the bundled model, and VS Code needs the TypeScript server plugin as a real folder under
// node_modules. A staging folder holds exactly that, with a package.json whose dependencies are those
// folders, so vsce's dependency walk takes them and nothing else (node-llama-cpp's own JavaScript, its
// source bundle and its CUDA/Vulkan builds stay out).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const platform = `${process.platform}-${process.arch}`;
const stage = join(root, ".tmp", "vsix-stage");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`package-vsix: ${cmd} ${args.join(" ")} failed`);
    process.exit(1);
  }
}

function copy(from, to = from) {
  const src = join(root, from);
  if (!existsSync(src)) {
    console.error(`package-vsix: ${from} is missing; run \`npm ci\` (builds the native addon) and \`npm run build\` first.`);
    process.exit(1);
  }
  cpSync(src, join(stage, to), { recursive: true, dereference: true });
}

const version = (name) => JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;

// --no-build packages the bundles already in dist/ (the end-to-end test does, after npm test built them).
if (!process.argv.includes("--no-build")) run(process.execPath, [join(root, "scripts", "build.mjs"), "--production"], root);
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const f of ["README.md", "LICENSE", "dist", "samples", "native/build/Release/steer_llama.node", "docs/screenshot-indirect-object.png"]) copy(f);
copy("ts-plugin", "node_modules/steer-nb-ts-plugin");
// esbuild's JavaScript API only: it runs the binary of @esbuild/<platform> (its bin/ is a second copy).
copy("node_modules/esbuild/package.json");
copy("node_modules/esbuild/lib");
copy(`node_modules/@esbuild/${platform}`);
copy(`node_modules/@node-llama-cpp/${platform}/package.json`);
copy(`node_modules/@node-llama-cpp/${platform}/bins/${platform}`);
// PNG export: resvg's loader and its prebuilt binary for this platform.
const resvgBinary = `@resvg/resvg-js-${platform}-gnu`;
copy("node_modules/@resvg/resvg-js/package.json");
copy("node_modules/@resvg/resvg-js/index.js");
copy("node_modules/@resvg/resvg-js/js-binding.js");
copy(`node_modules/${resvgBinary}`);

const staged = {
  ...pkg,
  scripts: {},
  devDependencies: {},
  dependencies: {
    esbuild: version("esbuild"),
    [`@esbuild/${platform}`]: version(`@esbuild/${platform}`),
    [`@node-llama-cpp/${platform}`]: version(`@node-llama-cpp/${platform}`),
    "steer-nb-ts-plugin": version("steer-nb-ts-plugin"),
    "@resvg/resvg-js": version("@resvg/resvg-js"),
    [resvgBinary]: version(resvgBinary),
  },
};
writeFileSync(join(stage, "package.json"), JSON.stringify(staged, null, 2) + "\n");
copy(".vscodeignore");
const outAt = process.argv.indexOf("--out");
const out = outAt > 0 ? resolve(process.argv[outAt + 1]) : join(root, `${pkg.name}-${pkg.version}-${platform}.vsix`);
mkdirSync(dirname(out), { recursive: true });
// The README's picture is in the VSIX, beside it: no repository URL to rewrite relative links to.
run(process.execPath, [join(root, "node_modules", "@vscode", "vsce", "vsce"), "package", "--target", platform, "--allow-missing-repository", "--skip-license", "--no-rewrite-relative-links", "--out", out], stage);
console.log(`package-vsix: wrote ${out}`);
