/**
 * Cell code's console and process.stdout/stderr write into cell outputs (streamed while the cell
 * runs). A real Console over two writable streams keeps every console method's formatting
 * (table, dir, group, count, time). The kernel's own stdout/stderr stay for native libraries, whose
 * output goes to the host's log.
 */
import { Console } from "node:console";
import { Writable } from "node:stream";
import { writeStream, type StreamName } from "./output-channel";

function cellStream(name: StreamName): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      writeStream(name, typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      callback();
    },
  });
}

export function captureConsole(): void {
  const stdout = cellStream("stdout");
  const stderr = cellStream("stderr");
  globalThis.console = new Console({ stdout, stderr, colorMode: false });
  redirectWrite(process.stdout, "stdout");
  redirectWrite(process.stderr, "stderr");
}

function redirectWrite(stream: NodeJS.WriteStream, name: StreamName): void {
  stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error | null) => void), callback?: (e?: Error | null) => void) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8");
    writeStream(name, text);
    const done = typeof encoding === "function" ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  }) as typeof stream.write;
}
