/**
 * What the toolkit's views ask of the kernel that made them: click-to-patch re-runs one cell of a
 * result this kernel still holds; a circuit view's export buttons get the file's contents from the
 * same exporters as circuit.export() (the host writes it beside the notebook). A view of a result from another kernel session (the notebook was
 * reopened, the kernel restarted) gets "unknown-result", and offers to re-run the cell.
 */
import { circuit, findResult, HeadScores, KERNEL_SESSION, PositionScores } from "../lens";
import { CIRCUIT_EXPORT_EXTENSIONS, CIRCUIT_EXPORT_FORMATS, type ExportCircuitRequest, type ExportResult, type RerunAnswer, type RerunRequest } from "../protocol";
import { onRendererMessage } from "./renderer-messages";

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function answerRerun(request: RerunRequest): Promise<RerunAnswer> {
  const answer = (outcome: RerunAnswer["outcome"]): RerunAnswer => ({ type: "steer.rerun-result", requestId: request.requestId, resultId: request.resultId, outcome });
  const result = request.kernelSession === KERNEL_SESSION ? findResult(request.resultId) : undefined;
  if (!(result instanceof HeadScores || result instanceof PositionScores)) {
    return answer({ ok: false, reason: "unknown-result", message: "The kernel that made this view is gone (the notebook was reopened or the kernel restarted): re-run the cell to patch from this view again." });
  }
  try {
    return answer({ ok: true, ...(await result.rerun(request.target, request.mode)) });
  } catch (e) {
    return answer({ ok: false, reason: "failed", message: describe(e) });
  }
}

export async function answerExport(request: ExportCircuitRequest): Promise<ExportResult> {
  const head = { type: "steer.export-result", requestId: request.requestId, format: request.format } as const;
  if (!CIRCUIT_EXPORT_FORMATS.includes(request.format)) return { ...head, ok: false, message: `Unknown export format ${JSON.stringify(request.format)}: use one of ${CIRCUIT_EXPORT_FORMATS.join(", ")}.` };
  try {
    const data = await new circuit.Circuit(request.circuit).export(request.format);
    const fileName = `circuit.${CIRCUIT_EXPORT_EXTENSIONS[request.format]}`;
    return typeof data === "string"
      ? { ...head, ok: true, fileName, encoding: "utf8", data }
      : { ...head, ok: true, fileName, encoding: "base64", data: Buffer.from(data).toString("base64") };
  } catch (e) {
    return { ...head, ok: false, message: describe(e) };
  }
}

export function registerViewRequests(): void {
  onRendererMessage("steer.rerun", async (event) => event.reply(await answerRerun(event.message as unknown as RerunRequest)));
  onRendererMessage("steer.export-circuit", async (event) => event.reply(await answerExport(event.message as unknown as ExportCircuitRequest)));
}
