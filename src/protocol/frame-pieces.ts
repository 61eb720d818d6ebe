/**
 * Half the smallest MSS IPv4 hosts must accept (536 bytes). The kernel hands a reader at
 * least one segment per read, so an honest peer's frame arrives in fewer pieces than one per
 * 256 bytes, however slow its link.
 */
const HONEST_CHUNK_BYTES = 256;

/**
 * How many chunks ws's Receiver may hold for one incomplete frame before it closes the
 * connection with 1008 (ws's `maxBufferedChunks`), for the server's reads and the Node client's
 * (src/client/pulse-client.ts, SOCKET_OPTIONS) alike. It keeps every chunk the socket read until
 * the frame is whole, each a Buffer with a few hundred bytes of bookkeeping: a frame trickled a
 * byte per TCP segment held 240-320 bytes of RSS per byte sent (bench/trickled-frame.ts,
 * 20 connections x 30 KB: heap +75-87 MiB, RSS +139-164 MiB), so `maxPayloadBytes` bounded the
 * bytes but not the memory. At one piece per 256 bytes of payload, the bookkeeping of the
 * pieces stays about as large as the largest frame.
 */
export function bufferedChunkLimit(maxPayloadBytes: number): number {
  return Math.ceil(maxPayloadBytes / HONEST_CHUNK_BYTES) + 16;
}
