/**
 * The `steer-massive` notebook renderer: draws `application/vnd.steer.massive+json` (a MassiveView)
 * with plotly (./massive/view.ts); a payload it cannot draw shows why instead.
 */
import type { MassiveView } from "../src/protocol/views";
import { h } from "../webview/dom";
import type { Renderer } from "../webview/messages";
import { BASE_CSS, ensureStyle } from "../webview/theme";
import { purgePlots, renderMassive } from "./massive/view";

export function activate(): Renderer {
  const outputs = new Map<string, HTMLElement>();
  return {
    renderOutputItem(item, element) {
      outputs.set(item.id, element);
      const fail = (e: unknown) => {
        purgePlots(element);
        ensureStyle(document, "steer-base", BASE_CSS);
        element.replaceChildren(h("div", { class: "steer-root" }, h("div", { class: "steer-error" }, `Cannot draw these massive activations: ${(e as Error).message}`)));
      };
      try {
        renderMassive(element, item.json() as MassiveView).ready.catch(fail);
      } catch (e) {
        fail(e);
      }
    },
    disposeOutputItem(id) {
      for (const [key, element] of outputs) {
        if (id !== undefined && key !== id) continue;
        purgePlots(element);
        outputs.delete(key);
      }
    },
  };
}
