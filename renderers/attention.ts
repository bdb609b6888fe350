/** Notebook renderer for attention patterns (application/vnd.steer.attention+json); see webview/attention-view.ts. */
import { defineRenderer } from "../webview/renderer";
import { renderAttention } from "../webview/attention-view";

export const activate = defineRenderer("attention", renderAttention);
