/**
 * The `steer-renderer` notebook renderer: shows `application/vnd.steer.*` payloads until their real
 * views land, as readable JSON with a button that sends an event to the notebook's kernel (through the
 * extension's renderer broker) and shows what the kernel answers. Browser code only; colours come from
 * VS Code's theme variables so it follows light, dark and high-contrast themes.
 */

/** The parts of VS Code's renderer API (vscode-notebook-renderer) this file uses. */
interface OutputItem {
  readonly id: string;
  readonly mime: string;
  json(): unknown;
}
interface RendererContext {
  postMessage?(message: unknown): void;
  onDidReceiveMessage?(listener: (message: unknown) => void): { dispose(): void };
}
interface Renderer {
  renderOutputItem(item: OutputItem, element: HTMLElement): void;
  disposeOutputItem?(id?: string): void;
}

/** What a view sends when the user acts on it; the kernel routes it by `type`. */
export interface ViewEvent {
  type: "view-event";
  outputId: string;
  mime: string;
  event: string;
}

const MAX_CHARS = 20_000;

const STYLE = `
.steer-view { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); color: var(--vscode-editor-foreground); }
.steer-view header { display: flex; gap: 8px; align-items: center; margin-bottom: 4px; }
.steer-view .steer-kind { color: var(--vscode-descriptionForeground); }
.steer-view button { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); border: 1px solid var(--vscode-button-border, transparent); padding: 1px 8px; cursor: pointer; font: inherit; }
.steer-view button:hover { background: var(--vscode-button-secondaryHoverBackground); }
.steer-view pre { margin: 0; padding: 6px; max-height: 400px; overflow: auto; background: var(--vscode-textCodeBlock-background); white-space: pre-wrap; }
.steer-view .steer-reply { color: var(--vscode-descriptionForeground); margin-top: 4px; }
.steer-view .steer-reply:empty { display: none; }
`;

export function activate(context: RendererContext): Renderer {
  const replies = new Map<string, HTMLElement>();

  context.onDidReceiveMessage?.((message) => {
    const outputId = typeof message === "object" && message !== null ? (message as { outputId?: unknown }).outputId : undefined;
    const text = (message as { type?: unknown })?.type === "kernel-unavailable"
      ? "No kernel is running for this notebook: run a cell first."
      : `kernel replied: ${JSON.stringify(message)}`;
    for (const [id, el] of replies) if (outputId === undefined || outputId === id) el.textContent = text;
  });

  return {
    renderOutputItem(item, element) {
      element.replaceChildren();
      const style = document.createElement("style");
      style.textContent = STYLE;
      const view = document.createElement("div");
      view.className = "steer-view";

      const header = document.createElement("header");
      const kind = document.createElement("span");
      kind.className = "steer-kind";
      kind.textContent = item.mime.replace(/^application\/vnd\.steer\./, "").replace(/\+json$/, "");
      header.append(kind);

      const reply = document.createElement("div");
      reply.className = "steer-reply";
      replies.set(item.id, reply);

      if (context.postMessage) {
        const button = document.createElement("button");
        button.className = "steer-send";
        button.textContent = "Send to kernel";
        button.title = "Sends a view-event message to this notebook's kernel";
        button.addEventListener("click", () => {
          const event: ViewEvent = { type: "view-event", outputId: item.id, mime: item.mime, event: "click" };
          reply.textContent = "sent, waiting for the kernel...";
          context.postMessage!(event);
        });
        header.append(button);
      }

      const pre = document.createElement("pre");
      let text: string;
      try {
        text = JSON.stringify(item.json(), null, 2) ?? "undefined";
      } catch (e) {
        text = `Could not read this output as JSON: ${(e as Error).message}`;
      }
      pre.textContent = text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}\n... (${text.length - MAX_CHARS} more characters)` : text;

      view.append(header, pre, reply);
      element.append(style, view);
    },
    disposeOutputItem(id) {
      if (id === undefined) replies.clear();
      else replies.delete(id);
    },
  };
}
