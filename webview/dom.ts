/**
 * Element helpers that only ever set text: token strings come from models and notebook files, so
 * nothing here parses HTML (no innerHTML, no insertAdjacentHTML), and a token such as
 * `<img src=x onerror=alert(1)>` shows as those characters.
 */

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  /** plain attributes (aria-*, data-*, role, title, ...); undefined skips one */
  attrs?: Record<string, string | number | boolean | undefined>;
  style?: Partial<CSSStyleDeclaration>;
  on?: { [K in keyof HTMLElementEventMap]?: (e: HTMLElementEventMap[K]) => void };
}

/** `h("span", { class: "x" }, "text", child)`: children that are strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, props?: Props, ...children: Child[]): HTMLElement;
export function h(tag: string, props: Props = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  for (const [k, v] of Object.entries(props.attrs ?? {})) if (v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : String(v));
  if (props.style) Object.assign(el.style, props.style);
  for (const [type, fn] of Object.entries(props.on ?? {})) el.addEventListener(type, fn as EventListener);
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children, as text where given strings. */
export function setChildren(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/**
 * A token as shown in labels: the characters themselves (set as text), with newlines and tabs made
 * visible so a label never breaks a line. Leading spaces stay (labels use `white-space: pre`).
 */
export function tokenLabel(token: string): string {
  return token.replaceAll("\n", "\u21b5").replaceAll("\r", "\u240d").replaceAll("\t", "\u21e5");
}

/** Values in tooltips and labels: 3 significant digits, exponent for very small or large ones. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+inf" : "-inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(3)).toString();
}
