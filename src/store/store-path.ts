/** Where `pulse serve` keeps its SQLite store unless told otherwise (`--store`, `PULSE_STORE`). */
export const DEFAULT_STORE_PATH = "./data/pulse.db";
