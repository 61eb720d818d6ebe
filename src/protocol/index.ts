export * from "./messages.js";
export * from "./close-codes.js";
export * from "./parse.js";
