/**
 * Click-to-patch for the heatmaps: asks the kernel that made a result to redo one cell of it (a head,
 * a set of heads, a [layer, pos] cell) patched or zeroed, and shows the answer: the metric and the top
 * tokens before and after. Also "Insert as code" (a cell reproducing the last patch) and, when the
 * result's kernel is gone, the offer to re-run the cell.
 */
import {
  fillRerunCode,
  type MetricInfo,
  type RerunAnswer,
  type RerunInfo,
  type RerunMode,
  type RerunTarget,
  type TokenProb,
} from "../src/protocol/views";
import { button, toggle } from "./controls";
import { formatValue, h, setChildren, tokenLabel } from "./dom";
import type { NoAnswer } from "./messages";
import type { ViewEnv } from "./renderer";

export const PANEL_CSS = `
.steer-patch { margin-top: 6px; border-top: 1px solid var(--steer-border); padding-top: 4px; }
.steer-patch .steer-status:empty { display: none; }
.steer-patch .steer-answer { display: flex; gap: 24px; flex-wrap: wrap; margin-top: 4px; }
.steer-patch table { border-collapse: collapse; font-size: 12px; }
.steer-patch th { text-align: left; font-weight: 600; padding-right: 12px; color: var(--steer-muted); }
.steer-patch td { padding: 0 12px 0 0; font-family: var(--steer-mono); white-space: pre; }
`;

export interface PatchPanelOptions {
  rerun: RerunInfo;
  metric?: MetricInfo;
  env: ViewEnv;
  /** how a target reads in the status line, e.g. "a1.h2" or "layer 3, pos 5" */
  describe(target: RerunTarget): string;
  /** shown while nothing has been patched yet */
  hint: string;
}

export class PatchPanel {
  readonly element: HTMLElement;
  private mode: RerunMode;
  private lastTarget?: RerunTarget;
  private readonly status = h("div", { class: "steer-status", attrs: { role: "status", "aria-live": "polite" } });
  private readonly answer = h("div", { class: "steer-answer" });
  private readonly selectionRow = h("div", { class: "steer-row steer-selection" });
  private readonly insertButton;
  private disposed = false;

  constructor(private readonly o: PatchPanelOptions) {
    this.mode = o.rerun.modes[0] ?? "patch";
    const modeControl = o.rerun.modes.includes("patch") && o.rerun.modes.includes("zero")
      ? toggle("zero-ablate instead of patching", this.mode === "zero", (zero) => (this.mode = zero ? "zero" : "patch"), "mode")
      : h("span", { class: "steer-note" }, `mode: ${this.mode}`);
    this.insertButton = button("Insert as code", () => this.insertCode(), { secondary: true, name: "insert-code", title: "Adds a cell below that reproduces the last patch" });
    this.insertButton.disabled = true;
    if (!o.rerun.code) this.insertButton.hidden = true;
    this.element = h("div", { class: "steer-patch", attrs: { "data-mode": this.mode } },
      h("div", { class: "steer-row" }, modeControl, this.insertButton),
      h("div", { class: "steer-note steer-hint" }, o.hint),
      this.selectionRow,
      this.status,
      this.answer);
    this.selectionRow.hidden = true;
    if (!o.env.client.canPost) {
      setChildren(this.status, h("span", { class: "steer-note", attrs: { "data-state": "no-messaging" } },
        "Patching needs this notebook open in VS Code with its kernel (this view cannot reach one here)."));
    }
  }

  get currentMode(): RerunMode {
    return this.mode;
  }

  /** Shows the set being built (shift-click) with a button patching it together; empty hides it. */
  setSelection(names: string[], target: RerunTarget | undefined, onClear: () => void): void {
    this.selectionRow.hidden = names.length === 0;
    if (!names.length || !target) return this.selectionRow.replaceChildren();
    setChildren(this.selectionRow,
      h("span", { attrs: { "data-selection": names.join(" ") } }, `set of ${names.length}: ${names.join(", ")}`),
      button(`Patch these ${names.length} together`, () => void this.run(target), { name: "patch-set" }),
      button("Clear", onClear, { secondary: true, name: "clear-set" }));
  }

  /** Asks the kernel to redo `target` in the current mode and shows what comes back. */
  async run(target: RerunTarget): Promise<void> {
    const mode = this.mode;
    this.lastTarget = target;
    this.insertButton.disabled = false;
    const what = `${this.o.describe(target)} (${mode})`;
    this.element.dataset.state = "waiting";
    setChildren(this.status, `${mode === "zero" ? "zero-ablating" : "patching"} ${what}...`);
    const reply = await this.o.env.client.rerun({ resultId: this.o.rerun.resultId, kernelSession: this.o.rerun.kernelSession, target, mode });
    if (this.disposed || this.lastTarget !== target) return;
    this.show(reply, what);
  }

  private show(reply: RerunAnswer | NoAnswer, what: string): void {
    this.answer.replaceChildren();
    const state = (s: string) => (this.element.dataset.state = s);
    switch (reply.type) {
      case "steer.rerun-result": {
        const out = reply.outcome;
        if (out.ok) {
          state("answered");
          setChildren(this.status, `${what}:`);
          this.answer.append(this.metricTable(out.metricBefore, out.metricAfter, out.normalizedAfter),
            tokenTable("top tokens before", out.topBefore, "before"), tokenTable("top tokens after", out.topAfter, "after"));
        } else if (out.reason === "unknown-result") {
          this.offerRerun("The kernel no longer holds this result (it was restarted, or the cell ran again).", out.message);
        } else {
          state("failed");
          setChildren(this.status, h("span", { class: "steer-error" }, `${what} failed: ${out.message}`));
        }
        return;
      }
      case "kernel-unavailable":
        return this.offerRerun("No kernel is running for this notebook, so nothing holds this result.");
      case "timeout":
        state("timeout");
        setChildren(this.status, h("span", { class: "steer-error" },
          `No answer from the kernel after ${Math.round(reply.afterMs / 1000)} s: it may be busy running a cell (interrupt it, or wait and click again).`));
        return;
      case "no-messaging":
        state("no-messaging");
        setChildren(this.status, h("span", { class: "steer-note" }, "Patching needs this notebook open in VS Code with its kernel (this view cannot reach one here)."));
        return;
      default:
        return;
    }
  }

  private offerRerun(why: string, detail?: string): void {
    this.element.dataset.state = "kernel-gone";
    setChildren(this.status,
      h("span", { class: "steer-note" }, `${why} Re-run the cell to patch again.`),
      detail ? h("span", { class: "steer-note" }, ` (${detail})`) : null,
      " ",
      button("Re-run cell", () => {
        this.o.env.client.post({ type: "steer.rerun-cell", outputId: this.o.env.outputId });
        setChildren(this.status, "asked VS Code to run the cell again.");
      }, { name: "rerun-cell" }));
  }

  private insertCode(): void {
    if (!this.o.rerun.code || !this.lastTarget) return;
    const code = fillRerunCode(this.o.rerun.code, this.lastTarget, this.mode);
    if (this.o.env.client.post({ type: "steer.insert-code", outputId: this.o.env.outputId, code })) setChildren(this.status, "asked VS Code to add the code in a cell below.");
  }

  private metricTable(before: number, after: number, normalizedAfter?: number): HTMLElement {
    const name = this.o.metric?.name ?? "metric";
    return h("table", { class: "steer-metric", attrs: { "data-before": before, "data-after": after } },
      h("tr", {}, h("th", {}, name), h("th", {}, "before"), h("th", {}, "after"), normalizedAfter === undefined ? null : h("th", {}, "after (normalized)")),
      h("tr", {}, h("td", {}, ""), h("td", {}, formatValue(before)), h("td", {}, formatValue(after)), normalizedAfter === undefined ? null : h("td", {}, formatValue(normalizedAfter))));
  }

  dispose(): void {
    this.disposed = true;
  }
}

function tokenTable(title: string, tokens: TokenProb[], which: string): HTMLElement {
  return h("table", { class: "steer-top", attrs: { "data-top": which } },
    h("tr", {}, h("th", { attrs: { colspan: 2 } }, title)),
    ...tokens.map((t) => h("tr", {}, h("td", { class: "steer-tok" }, tokenLabel(t.token)), h("td", {}, `${(t.prob * 100).toFixed(1)}%`))));
}
