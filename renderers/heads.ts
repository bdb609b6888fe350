/** Notebook renderer for the head heatmap (application/vnd.steer.heads+json); see webview/heads-view.ts. */
import { defineRenderer } from "../webview/renderer";
import { renderHeads } from "../webview/heads-view";

export const activate = defineRenderer("heads", renderHeads);
