/**
 * The views' controls, as @vscode-elements/elements web components (VS Code's look, theme included).
 * Importing this file registers the elements used; every label is set as text.
 */
import "./elements-config";
import "@vscode-elements/elements/dist/vscode-button/index.js";
import "@vscode-elements/elements/dist/vscode-checkbox/index.js";
import "@vscode-elements/elements/dist/vscode-single-select/index.js";
import "@vscode-elements/elements/dist/vscode-option/index.js";
import type { VscodeButton } from "@vscode-elements/elements/dist/vscode-button/vscode-button.js";
import type { VscodeCheckbox } from "@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js";
import type { VscodeSingleSelect } from "@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js";

export function button(label: string, onClick: () => void, opts: { secondary?: boolean; name?: string; title?: string } = {}): VscodeButton {
  const b = document.createElement("vscode-button");
  b.textContent = label;
  if (opts.secondary) b.secondary = true;
  if (opts.name) b.dataset.action = opts.name;
  if (opts.title) b.title = opts.title;
  b.addEventListener("click", () => {
    if (!b.disabled) onClick();
  });
  return b;
}

/** A switch (checkbox rendered as a toggle). */
export function toggle(label: string, checked: boolean, onChange: (checked: boolean) => void, name?: string): VscodeCheckbox {
  const c = document.createElement("vscode-checkbox");
  c.toggle = true;
  c.checked = checked;
  c.textContent = label;
  if (name) c.dataset.control = name;
  c.addEventListener("change", () => onChange(c.checked));
  return c;
}

/** A dropdown of (value, label) options. */
export function select(options: { value: string; label: string }[], value: string, onChange: (value: string) => void, name?: string): VscodeSingleSelect {
  const s = document.createElement("vscode-single-select");
  for (const o of options) {
    const opt = document.createElement("vscode-option");
    opt.value = o.value;
    opt.textContent = o.label;
    if (o.value === value) opt.selected = true;
    s.appendChild(opt);
  }
  s.value = value;
  if (name) s.dataset.control = name;
  s.addEventListener("change", () => onChange(s.value));
  return s;
}
