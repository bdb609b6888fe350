/** `steer-nb download`: downloads a model by URL or `hf:` address into the models folder, resumable. */
import { resolve } from "node:path";
import { defaultModelsFolder, describeKept, describeProgress, downloadModel } from "../host/model-download";
import { EXIT, parseCommandArgs, UsageError, type Command } from "./command";

const help = `Usage: steer-nb download <url | hf:address> [--dir <folder>]

Downloads a GGUF model with node-llama-cpp's downloader and prints the path of the file on stdout;
progress goes to stderr. Ctrl+C stops it and keeps what arrived in whole 5 MiB pieces (in
<name>.gguf.ipull): the same command again fetches only the rest. A file already there in full is not
downloaded again.

Addresses:
  https://host/path/model.gguf     any http(s) URL
  hf:user/repo/file.gguf           a file of a Hugging Face repository (#branch optional)
  hf:user/repo:Q8_0                the repository's file of that quantization

Options:
  --dir <folder>   Where to put it (default ${defaultModelsFolder()},
                   that is $XDG_CACHE_HOME/steer-nb/models or ~/.cache/steer-nb/models).
  -h, --help       Show this help.

Exit codes: 0 downloaded, 1 failed or stopped (the message says which), 2 bad usage.

Examples:
  steer-nb download hf:<user>/<repo>:Q8_0
  steer-nb download https://example.com/models/model.gguf --dir ./models
  Then name it in a notebook with "Steer: Select Model", or load it in a cell: steer.load("<path>").`;

const PRINT_EVERY_MS = 500;

async function run(args: string[]): Promise<number> {
  const { positionals, values } = parseCommandArgs(args, { dir: { type: "string" } });
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length ? `expected one address, got ${positionals.length}: ${positionals.join(" ")}` : "missing the URL or hf: address to download");
  }
  const address = positionals[0];
  const dir = values.dir ? resolve(values.dir) : defaultModelsFolder();
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on("SIGINT", onSigint);
  let lastPrint = 0;
  process.stderr.write(`downloading ${address} into ${dir}\n`);
  try {
    const outcome = await downloadModel(address, {
      dir,
      signal: controller.signal,
      onProgress: (p) => {
        const now = Date.now();
        if (now - lastPrint < PRINT_EVERY_MS && p.percent !== 100) return;
        lastPrint = now;
        process.stderr.write(`  ${describeProgress(p)}\n`);
      },
    });
    switch (outcome.status) {
      case "done":
        process.stdout.write(`${outcome.path}\n`);
        return EXIT.ok;
      case "cancelled":
        process.stderr.write(`steer-nb download: stopped; ${describeKept(outcome)}${outcome.partialPath ? " Run the same command again to resume." : ""}\n`);
        return EXIT.failed;
      case "failed":
        process.stderr.write(`steer-nb download: ${outcome.message}\n`);
        return EXIT.failed;
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
}

export const downloadCommand: Command = { name: "download", summary: "Download a GGUF model by URL or hf: address (resumable).", help, run };
