/**
 * Some of plotly's CommonJS dependencies (has-hover, ...) read Node's `global`, which a webview lacks.
 * Imported before plotly, so it runs first: the bundler keeps ES module evaluation order.
 */
(globalThis as { global?: unknown }).global ??= globalThis;
