/**
 * What every view's renderer entry shares: activate(context) -> { renderOutputItem, disposeOutputItem }
 * around a pure render function of the payload. It adds the theme's CSS, one message client per
 * renderer, and turns a payload it cannot draw into a message naming the problem instead of a blank.
 */
import { VIEW_MIMES, type ViewKind, type ViewPayloads } from "../src/protocol/views";
import { h } from "./dom";
import { MessageClient, type Renderer, type RendererContext } from "./messages";
import { BASE_CSS, useStyles } from "./theme";

export interface ViewEnv {
  client: MessageClient;
  /** the notebook output this view draws (sent along with insert-code and rerun-cell) */
  outputId: string;
  mime: string;
}

/** What a render function may hand back: cleanup when the output goes away. */
export interface ViewHandle {
  dispose?(): void;
}

export type RenderView<K extends ViewKind> = (root: HTMLElement, payload: ViewPayloads[K], env: ViewEnv) => ViewHandle | void;

/** A payload that does not match its view's type: the message says which field and what was expected. */
export class PayloadError extends Error {
  override name = "PayloadError";
}

export function defineRenderer<K extends ViewKind>(kind: K, render: RenderView<K>): (context: RendererContext) => Renderer {
  return (context) => {
    const client = new MessageClient(context);
    const handles = new Map<string, ViewHandle>();
    const disposeOne = (id: string) => {
      handles.get(id)?.dispose?.();
      handles.delete(id);
    };
    return {
      renderOutputItem(item, element) {
        disposeOne(item.id);
        useStyles(element, { "steer-base": BASE_CSS });
        const root = h("div", { class: `steer-root steer-${kind}`, attrs: { "data-view": kind } });
        element.replaceChildren(root);
        try {
          if (item.mime !== VIEW_MIMES[kind]) throw new PayloadError(`this renderer draws ${VIEW_MIMES[kind]}, got ${item.mime}`);
          const payload = item.json();
          if (typeof payload !== "object" || payload === null) throw new PayloadError(`expected a JSON object, got ${payload === null ? "null" : typeof payload}`);
          const handle = render(root, payload as ViewPayloads[K], { client, outputId: item.id, mime: item.mime });
          if (handle) handles.set(item.id, handle);
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          root.replaceChildren(
            h("p", { class: "steer-error", attrs: { role: "alert" } }, `Cannot show this ${kind} view: ${message}.`),
            h("p", { class: "steer-note" }, "The output was written by a different version of Steer, or edited by hand: re-run the cell to regenerate it."),
          );
        }
      },
      disposeOutputItem(id) {
        if (id === undefined) for (const k of [...handles.keys()]) disposeOne(k);
        else disposeOne(id);
      },
    };
  };
}
