export * from "./clock.js";
export * from "./settings.js";
export * from "./backoff.js";
export * from "./liveness-engine.js";
