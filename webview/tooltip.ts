/**
 * One hover tooltip per view: rows of key and value, set as text. It follows the pointer and stays
 * inside the window; `lines` is what tests read (also the element's text).
 */
import { h } from "./dom";

export type TooltipLine = readonly [key: string, value: string];

export class Tooltip {
  readonly element: HTMLElement;
  private current: TooltipLine[] = [];

  constructor(parent: HTMLElement) {
    this.element = h("div", { class: "steer-tooltip", attrs: { role: "tooltip", hidden: true } });
    parent.appendChild(this.element);
  }

  get lines(): readonly TooltipLine[] {
    return this.current;
  }

  /** Shows `lines` near the viewport point (x, y). */
  show(lines: TooltipLine[], x: number, y: number): void {
    this.current = lines;
    const table = h("table", { attrs: { role: "presentation" }, style: { borderCollapse: "collapse" } },
      ...lines.map(([k, v]) => h("tr", {}, h("td", { class: "steer-tip-key" }, k), h("td", { class: "steer-tip-val" }, v))));
    this.element.replaceChildren(table);
    this.element.hidden = false;
    const pad = 12;
    const { width, height } = this.element.getBoundingClientRect();
    const vw = this.element.ownerDocument.documentElement.clientWidth || window.innerWidth;
    const vh = window.innerHeight;
    const left = x + pad + width > vw ? Math.max(0, x - pad - width) : x + pad;
    const top = y + pad + height > vh ? Math.max(0, y - pad - height) : y + pad;
    this.element.style.left = `${left}px`;
    this.element.style.top = `${top}px`;
  }

  hide(): void {
    this.current = [];
    this.element.hidden = true;
  }
}
