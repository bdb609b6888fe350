export * from "./outputs";
export * from "./kernel-messages";
export * from "./format";
export * from "./views";
