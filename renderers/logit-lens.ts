/** Notebook renderer for the logit lens (application/vnd.steer.logit-lens+json); see webview/logit-lens-view.ts. */
import { defineRenderer } from "../webview/renderer";
import { renderLogitLens } from "../webview/logit-lens-view";

export const activate = defineRenderer("logitLens", renderLogitLens);
