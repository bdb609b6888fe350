/** Notebook renderer for per-component scores (application/vnd.steer.components+json); see webview/components-view.ts. */
import { defineRenderer } from "../webview/renderer";
import { renderComponents } from "../webview/components-view";

export const activate = defineRenderer("components", renderComponents);
