/**
 * The `steer-circuit` notebook renderer: draws `application/vnd.steer.circuit+json` (a CircuitView)
 * as an interactive graph (./circuit/view.ts); a payload it cannot draw shows why instead.
 */
import type { CircuitView } from "../src/protocol/views";
import { h } from "../webview/dom";
import { MessageClient, type Renderer, type RendererContext } from "../webview/messages";
import { BASE_CSS, ensureStyle } from "../webview/theme";
import { renderCircuit } from "./circuit/view";

export function activate(context: RendererContext): Renderer {
  const messages = new MessageClient(context);
  return {
    renderOutputItem(item, element) {
      try {
        renderCircuit(element, item.json() as CircuitView, { outputId: item.id, messages });
      } catch (e) {
        ensureStyle(document, "steer-base", BASE_CSS);
        element.replaceChildren(h("div", { class: "steer-root" }, h("div", { class: "steer-error" }, `Cannot draw this circuit: ${(e as Error).message}`)));
      }
    },
  };
}
