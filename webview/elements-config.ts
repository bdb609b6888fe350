/**
 * VS Code loads every notebook renderer into the same webview, and each renderer bundle carries its own
 * copy of @vscode-elements/elements: the second copy finds the elements already defined (by the same
 * version) and would warn once per element. This flag, read by the library, silences that warning.
 * Imported before the elements themselves (controls.ts), so it is set when they register.
 */
(window as unknown as Record<string, boolean>).__vscodeElements_disableRegistryWarning__ = true;

export {};
