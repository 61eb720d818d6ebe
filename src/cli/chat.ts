import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { PulseClient } from "../client/index.js";
import type { WebSocketFactory } from "../client/types.js";
import type { ChatMessage } from "../protocol/messages.js";
import { statusLine } from "./status-line.js";

const USAGE = `pulse chat --url ws://HOST:PORT --room ROOM --nick NICK
  Type a line and press Enter to send it. /quit leaves. /retry reconnects now.`;

export async function chat(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: "string" }, room: { type: "string" }, nick: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help || !values.url || !values.room || !values.nick) {
    console.log(USAGE);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const room = values.room;
  const client = new PulseClient({ url: values.url, nick: values.nick, WebSocket: WebSocket as unknown as WebSocketFactory });
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const time = (ts: number) => new Date(ts).toTimeString().slice(0, 8);
  let quitting = false;
  const refresh = () => {
    if (quitting) return;
    rl.setPrompt(`[${statusLine(client.state, client.rtt.smoothedMs, Date.now())}] ${values.nick}> `);
    rl.prompt(true);
  };
  // Print above the prompt without mangling what the user is typing.
  const print = (line: string) => {
    process.stdout.write("\r\x1b[2K" + line + "\n");
    refresh();
  };
  const show = (m: ChatMessage) => print(`${time(m.ts)} <${m.from}> ${m.text}`);

  client.on("state", (next) => {
    if (next.kind === "closed") print(`-- ${statusLine(next, null, Date.now())}`);
    refresh();
  });
  client.on("joined", (e) => {
    if (!e.recovered) {
      print(`-- ${e.room}: ${e.first ? "joined" : "resynced"}${e.readOnly ? " (read-only: you can read but not write here)" : ""}; online: ${e.online.join(", ")}`);
      e.messages.forEach(show);
    }
  });
  client.on("message", show);
  client.on("presence", (e) => print(`-- ${e.nick} ${e.event === "join" ? "joined" : "left"} ${e.room}`));
  client.on("outbox", (e) => {
    if (e.status === "failed") print(`-- not sent: "${e.text}" (${e.error}); /retry-msgs to resend`);
  });
  client.on("error", (e) => print(`-- error: ${e.message}`));
  client.join(room);

  // The countdown and silence timer need a redraw even when nothing happens.
  const ticker = setInterval(refresh, 1_000);
  refresh();
  await new Promise<void>((resolve) => {
    rl.on("line", (line) => {
      const text = line.trim();
      if (text === "/quit") return rl.close();
      if (text === "/retry") return client.reconnectNow();
      if (text === "/retry-msgs") {
        for (const e of client.outboxEntries()) if (e.status === "failed") client.retry(e.id);
        return refresh();
      }
      if (text) client.send(room, text);
      refresh();
    });
    rl.on("close", () => resolve());
  });
  clearInterval(ticker);
  quitting = true;
  client.close();
  // readline leaves stdin open; a piped stdin would keep the process alive.
  process.stdin.destroy();
}
