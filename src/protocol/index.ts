export * from "./outputs";
export * from "./kernel-messages";
