/**
 * Messages between toolkit views (notebook renderers) and cell code. A renderer posts
 * `{ type, ... }`; the host relays it; handlers registered with `steer.onRendererMessage(type, fn)`
 * receive it and may answer that renderer.
 */
import type { RendererToKernel } from "../protocol";
import { sendToHost } from "./output-channel";

export interface RendererMessageEvent {
  /** The renderer that sent the message. */
  rendererId: string;
  message: { type: string; [key: string]: unknown };
  /** Sends a message back to the renderer that sent this one. */
  reply(message: unknown): void;
}

export type RendererMessageHandler = (event: RendererMessageEvent) => void | Promise<void>;

const handlers = new Map<string, Set<RendererMessageHandler>>();

export function onRendererMessage(type: string, handler: RendererMessageHandler): { dispose(): void } {
  let set = handlers.get(type);
  if (!set) handlers.set(type, (set = new Set()));
  set.add(handler);
  return { dispose: () => void set.delete(handler) };
}

export function postRendererMessage(rendererId: string, message: unknown): void {
  sendToHost({ type: "renderer-message", rendererId, message });
}

export function dispatchRendererMessage(incoming: RendererToKernel): void {
  const message = incoming.message as RendererMessageEvent["message"];
  const type = message && typeof message === "object" && typeof message.type === "string" ? message.type : undefined;
  const set = type ? handlers.get(type) : undefined;
  if (!set?.size) {
    sendToHost({ type: "log", level: "warn", message: `No cell registered a handler for renderer messages of type ${JSON.stringify(type)} (steer.onRendererMessage).` });
    return;
  }
  const event: RendererMessageEvent = {
    rendererId: incoming.rendererId,
    message,
    reply: (answer) => postRendererMessage(incoming.rendererId, answer),
  };
  for (const handler of set) {
    Promise.resolve()
      .then(() => handler(event))
      .catch((e: unknown) => {
        const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
        sendToHost({ type: "log", level: "error", message: `Renderer message handler for "${type}" failed: ${text}` });
      });
  }
}
