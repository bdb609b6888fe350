/**
 * The variables panel's page (loaded by src/extension/variables-panel.ts into a WebviewPanel, not a
 * notebook renderer): a tensor variable drawn by webview/tensor-view.ts. `activate` has the notebook
 * renderers' shape, so the browser tests drive it as they drive them; inside VS Code the page wires
 * it to acquireVsCodeApi, says it is ready, and draws the slices the host posts.
 *
 * Messages: view -> host VariablePanelReady, then VariableSliceRequest (the stepper);
 * host -> view VariableSliceAnswer, with the requestId it answers, or none when the host refreshed
 * the variable after a cell ran.
 */
import type { TensorSliceView, VariablePanelReady, VariableSliceAnswer, VariableSliceRequest } from "../src/protocol/views";
import { h } from "../webview/dom";
import { newRequestId, type Renderer, type RendererContext } from "../webview/messages";
import { renderTensorSlice, type TensorViewHandle } from "../webview/tensor-view";
import { BASE_CSS, useStyles } from "../webview/theme";

interface Shown {
  element: HTMLElement;
  name: string;
  handle?: TensorViewHandle;
  /** the slice request in flight, if any */
  pending?: string;
}

function isAnswer(m: unknown): m is VariableSliceAnswer {
  return typeof m === "object" && m !== null && (m as { type?: unknown }).type === "steer.variable-view" && typeof (m as { outcome?: unknown }).outcome === "object";
}

export function activate(context: RendererContext): Renderer {
  const shown = new Map<string, Shown>();

  const draw = (id: string, element: HTMLElement, view: TensorSliceView) => {
    shown.get(id)?.handle?.dispose?.();
    useStyles(element, { "steer-base": BASE_CSS });
    const root = h("div", { class: "steer-root steer-variable", attrs: { "data-view": "variable" } });
    element.replaceChildren(root);
    const entry: Shown = { element, name: String(view?.name ?? "") };
    shown.set(id, entry);
    try {
      if (typeof view !== "object" || view === null) throw new Error(`expected a JSON object, got ${view === null ? "null" : typeof view}`);
      entry.handle = renderTensorSlice(root, view, {
        requestSlice(slice) {
          const request: VariableSliceRequest = { type: "steer.variable-slice", requestId: newRequestId(), name: entry.name, slice };
          if (!context.postMessage) return entry.handle?.fail("This view cannot reach VS Code, so it cannot show another slice.");
          entry.pending = request.requestId;
          context.postMessage(request);
        },
      });
    } catch (e) {
      root.replaceChildren(h("p", { class: "steer-error", attrs: { role: "alert" } }, `Cannot show this tensor: ${e instanceof Error ? e.message : String(e)}.`));
    }
  };

  context.onDidReceiveMessage?.((m) => {
    if (!isAnswer(m)) return;
    for (const [id, entry] of shown) {
      const asked = m.requestId !== undefined && m.requestId === entry.pending;
      const refreshed = m.requestId === undefined && (!m.outcome.ok || m.outcome.view.name === entry.name);
      if (!asked && !refreshed) continue;
      entry.pending = undefined;
      if (m.outcome.ok) draw(id, entry.element, m.outcome.view);
      else entry.handle?.fail(m.outcome.message);
    }
  });

  return {
    renderOutputItem(item, element) {
      draw(item.id, element, item.json() as TensorSliceView);
    },
    disposeOutputItem(id) {
      for (const [key, entry] of shown) {
        if (id !== undefined && key !== id) continue;
        entry.handle?.dispose?.();
        shown.delete(key);
      }
    },
  };
}

declare const acquireVsCodeApi: undefined | (() => { postMessage(message: unknown): void });

/** In the WebviewPanel: the first slice the host posts is drawn into #steer-variable; later ones go through activate's listener. */
function boot(): void {
  const vscode = acquireVsCodeApi!();
  const listeners = new Set<(m: unknown) => void>();
  window.addEventListener("message", (e: MessageEvent) => {
    for (const l of [...listeners]) l(e.data);
  });
  const context: RendererContext = {
    postMessage: (m) => vscode.postMessage(m),
    onDidReceiveMessage: (fn) => {
      listeners.add(fn);
      return { dispose: () => void listeners.delete(fn) };
    },
  };
  const renderer = activate(context);
  const element = document.getElementById("steer-variable") ?? document.body;
  const first = context.onDidReceiveMessage!((m) => {
    if (!isAnswer(m) || m.requestId !== undefined) return;
    if (!m.outcome.ok) {
      // Nothing drawn yet: say why, and draw the next slice the host posts (after a cell runs).
      useStyles(element, { "steer-base": BASE_CSS });
      element.replaceChildren(h("div", { class: "steer-root steer-variable" }, h("p", { class: "steer-error", attrs: { role: "alert" } }, m.outcome.message)));
      return;
    }
    first.dispose();
    const view = m.outcome.view;
    renderer.renderOutputItem({ id: "panel", mime: "", json: () => view }, element);
  });
  const ready: VariablePanelReady = { type: "steer.variable-ready" };
  vscode.postMessage(ready);
}

if (typeof acquireVsCodeApi === "function") boot();
