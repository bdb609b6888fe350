/** Notebook renderer for the positions heatmap (application/vnd.steer.positions+json); see webview/positions-view.ts. */
import { defineRenderer } from "../webview/renderer";
import { renderPositions } from "../webview/positions-view";

export const activate = defineRenderer("positions", renderPositions);
