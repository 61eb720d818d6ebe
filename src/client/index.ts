export { PulseClient } from "./pulse-client.js";
export type * from "./types.js";
export { backoffMs } from "../liveness/backoff.js";
export { describeClose, isRetryable, CloseCode } from "../protocol/close-codes.js";
