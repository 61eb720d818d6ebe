export { startServer, type PulseServer, type ServerStats } from "./pulse-server.js";
export type { ServerOptions } from "./options.js";
export { LocalBroker, type Broker } from "./broker.js";
