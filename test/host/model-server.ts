// A real HTTP server on 127.0.0.1 for the download tests: serves files slowly (so a cancel lands midway),
// with Range support, and records every request and the body bytes it actually wrote.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Served {
  path: string;
  range: string | undefined;
  /** body bytes written to the socket */
  bytes: number;
}

const SLICE = 64 * 1024;

export class ModelServer {
  readonly served: Served[] = [];
  private server: Server | undefined;
  private base = "";

  /** `files`: URL path to body; any other path answers 404. `rate`: bytes per second per connection. */
  constructor(
    private readonly files: Record<string, Buffer>,
    private readonly rate = 6 * 1024 * 1024,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  url(path: string): string {
    return this.base + path;
  }

  /** Body bytes served for ranged requests of `path` since request number `from`. */
  rangeBytes(path: string, from = 0): number {
    return this.ranged(path, from).reduce((a, s) => a + s.bytes, 0);
  }

  ranged(path: string, from = 0): Served[] {
    return this.served.slice(from).filter((s) => s.path === path && s.range);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const record: Served = { path: req.url ?? "", range: req.headers.range, bytes: 0 };
    this.served.push(record);
    const body = this.files[req.url ?? ""];
    if (!body) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      return;
    }
    const type = body.subarray(0, 4).toString("latin1") === "GGUF" ? "application/octet-stream" : "text/html";
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
      res.writeHead(206, { "content-type": type, "accept-ranges": "bytes", "content-range": `bytes ${start}-${end}/${body.length}`, "content-length": end - start + 1 });
      this.sendSlowly(res, body.subarray(start, end + 1), record);
    } else {
      res.writeHead(200, { "content-type": type, "accept-ranges": "bytes", "content-length": body.length });
      if (req.method === "HEAD") res.end();
      else this.sendSlowly(res, body, record);
    }
  }

  /** Writes in slices at the rate, honouring backpressure, stopping when the client goes away. */
  private sendSlowly(res: ServerResponse, body: Buffer, record: Served): void {
    let offset = 0;
    let closed = false;
    res.on("close", () => (closed = true));
    const next = () => {
      if (closed) return;
      if (offset >= body.length) {
        res.end();
        return;
      }
      const slice = body.subarray(offset, offset + SLICE);
      offset += slice.length;
      const ok = res.write(slice, () => (record.bytes += slice.length));
      const wait = (slice.length / this.rate) * 1000;
      if (ok) setTimeout(next, wait);
      else res.once("drain", () => setTimeout(next, wait));
    };
    next();
  }
}
