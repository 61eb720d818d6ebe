import type { Socket } from "node:net";

/**
 * Stops a socket reading, returning what it had read and not yet emitted: what its handle read
 * once the socket is handed on would be lost. pause() alone lets it read on up to the stream's
 * high-water mark, and read() may start it again, so the handle is stopped last.
 */
export function stopReading(socket: Socket): Buffer[] {
  socket.pause();
  const read: Buffer[] = [];
  while (socket.readableLength > 0) read.push(socket.read() as Buffer);
  (socket as unknown as { _handle?: { readStop?(): number } })._handle?.readStop?.();
  return read;
}
