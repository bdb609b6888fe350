/**
 * Downloads a model by URL or `hf:` address with node-llama-cpp's downloader (ipull underneath: parallel
 * ranged requests, progress kept beside the file). A cancelled download leaves `<file>.ipull`, the data so
 * far with ipull's progress record appended, and downloading the same address into the same folder again
 * resumes from it (whole 5 MiB chunks that finished are not fetched again). Used by the command
 * "Steer: Download Model" and by `steer-nb download`.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";
import { checkModel } from "./model-check";

export type DownloadOutcome =
  | { status: "done"; path: string }
  /**
   * `partialBytes`: what was kept on disk, in `partialPath` (absent when nothing was), and is not fetched
   * again when the same address is downloaded into the same folder. ipull writes whole 5 MiB chunks, so
   * bytes of a chunk still arriving at the cancel are dropped.
   */
  | { status: "cancelled"; partialBytes: number; partialPath?: string }
  | { status: "failed"; message: string };

export interface DownloadProgress {
  downloadedBytes: number;
  /** 0 until the server has said */
  totalBytes: number;
  /** 0..100, or undefined while the size is unknown */
  percent: number | undefined;
}

export interface DownloadOptions {
  /** The folder to download into (default: defaultModelsFolder()). */
  dir?: string;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

const MIB = 1024 * 1024;

/** "12.3 MiB of 36.0 MiB (34%)", or only the bytes while the total is unknown. */
export function describeProgress({ downloadedBytes, totalBytes, percent }: DownloadProgress): string {
  const got = `${(downloadedBytes / MIB).toFixed(1)} MiB`;
  return percent === undefined ? got : `${got} of ${(totalBytes / MIB).toFixed(1)} MiB (${Math.floor(percent)}%)`;
}

/** What a cancelled download kept: "15.0 MiB kept in <file>.", or that nothing was. */
export function describeKept(outcome: Extract<DownloadOutcome, { status: "cancelled" }>): string {
  return outcome.partialPath
    ? `${(outcome.partialBytes / MIB).toFixed(1)} MiB kept in ${outcome.partialPath}.`
    : "nothing was kept (downloads keep whole 5 MiB pieces and none had arrived).";
}

/** `$XDG_CACHE_HOME/steer-nb/models`, else `~/.cache/steer-nb/models`: where downloads go unless told otherwise. */
export function defaultModelsFolder(env: Readonly<Record<string, string | undefined>> = process.env, home = homedir()): string {
  const cache = env.XDG_CACHE_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  return join(cache && isAbsolute(cache) ? cache : join(home, ".cache"), "steer-nb", "models");
}

/** Why `address` cannot be downloaded, or undefined when it looks like one. */
export function addressProblem(address: string): string | undefined {
  const a = address.trim();
  if (/^https?:\/\/\S+$/i.test(a)) {
    try {
      new URL(a);
      return undefined;
    } catch {
      return `"${address}" is not a valid URL.`;
    }
  }
  if (/^(hf|huggingface):[^/\s]+\/[^\s]+$/i.test(a)) return undefined;
  return `"${address}" is neither an http(s) URL nor a Hugging Face address. Give e.g. https://host/model.gguf, hf:user/repo/file.gguf or hf:user/repo:Q8_0.`;
}

type NodeLlamaCpp = typeof import("node-llama-cpp");
// A real dynamic import: node-llama-cpp is ESM-only and stays unbundled; a literal import() would become require().
const nativeImport = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<NodeLlamaCpp>;

/**
 * node-llama-cpp's downloader: dist/model-downloader.mjs beside the running bundle (scripts/build.mjs
 * bundles it; an installed extension has none of node-llama-cpp's JavaScript), else, running from
 * source, the package itself.
 */
function nodeLlamaCpp(): Promise<Pick<NodeLlamaCpp, "createModelDownloader">> {
  const bundled = join(__dirname, "model-downloader.mjs");
  return nativeImport(pathToFileURL(existsSync(bundled) ? bundled : require.resolve("node-llama-cpp")).href);
}

export async function downloadModel(address: string, options: DownloadOptions = {}): Promise<DownloadOutcome> {
  const problem = addressProblem(address);
  if (problem) return { status: "failed", message: problem };
  const uri = address.trim();
  const dir = options.dir ?? defaultModelsFolder();
  const { signal, onProgress } = options;
  if (signal?.aborted) return { status: "cancelled", partialBytes: 0 };

  let downloader: Awaited<ReturnType<NodeLlamaCpp["createModelDownloader"]>>;
  try {
    const { createModelDownloader } = await nodeLlamaCpp();
    // Creating it asks the server for the size (and resolves an hf: address); no data is written yet.
    downloader = await createModelDownloader({
      modelUri: uri,
      dirPath: dir,
      deleteTempFileOnCancel: false,
      onProgress: onProgress && (({ totalSize, downloadedSize }) => onProgress({
        downloadedBytes: downloadedSize,
        totalBytes: totalSize,
        percent: totalSize > 0 ? Math.min(100, (100 * downloadedSize) / totalSize) : undefined,
      })),
    });
  } catch (e) {
    return { status: "failed", message: failure(uri, e) };
  }
  const partialPath = `${downloader.entrypointFilePath}.ipull`;
  const cancelled = async (): Promise<DownloadOutcome> => {
    await downloader.cancel({ deleteTempFile: false });
    const partialBytes = keptBytes(partialPath, downloader.totalSize);
    return partialBytes > 0 ? { status: "cancelled", partialBytes, partialPath } : { status: "cancelled", partialBytes };
  };
  if (signal?.aborted) return cancelled();

  let path: string;
  try {
    // On abort the downloader closes its streams and returns as if done: `signal.aborted` tells them apart.
    path = await downloader.download({ signal });
  } catch (e) {
    if (signal?.aborted) return cancelled();
    return { status: "failed", message: failure(uri, e) };
  }
  if (signal?.aborted) return cancelled();

  const check = checkModel(path);
  if (!check.ok && check.reason !== "unsupported-architecture") {
    // Not a model at all (an error page served with status 200, a cut-off body): keep nothing.
    rmSync(path, { force: true });
    return { status: "failed", message: `Downloaded ${uri}, but it is not a model: ${check.message} The file was deleted.` };
  }
  return { status: "done", path };
}

/**
 * The bytes a partial download keeps, from the progress record ipull appends after the file's data
 * (`{ chunks: [status...], chunkSize }`, status 2 = complete): those are not fetched again on resume.
 */
function keptBytes(partialPath: string, totalSize: number): number {
  if (!existsSync(partialPath) || totalSize <= 0) return 0;
  const fd = openSync(partialPath, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= totalSize) return 0;
    const record = Buffer.alloc(size - totalSize);
    readSync(fd, record, 0, record.length, totalSize);
    const progress = JSON.parse(record.toString("utf8")) as { chunks?: unknown; chunkSize?: unknown };
    if (!Array.isArray(progress.chunks) || typeof progress.chunkSize !== "number") return 0;
    const chunkSize = progress.chunkSize;
    return progress.chunks.reduce((sum: number, status, i) => (status === 2 ? sum + Math.min(chunkSize, totalSize - i * chunkSize) : sum), 0);
  } catch {
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** The downloader's error, with the address and (for an HTTP error) the status code. */
function failure(uri: string, e: unknown): string {
  const err = e as { statusCode?: number; statusText?: string; message?: string };
  if (typeof err?.statusCode === "number") {
    return `Downloading ${uri} failed: the server answered HTTP ${err.statusCode}${err.statusText ? ` ${err.statusText}` : ""}. Check the address.`;
  }
  return `Downloading ${uri} failed: ${err?.message ?? String(e)}`;
}
