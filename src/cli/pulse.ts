#!/usr/bin/env node
import { serve } from "./serve.js";
import { chat } from "./chat.js";
import { backup, restore } from "./store-copy.js";

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (argv: string[]) => Promise<void>> = { serve, chat, backup, restore };
const run = command ? commands[command] : undefined;
if (!run) {
  console.error("usage: pulse serve [--port N ...] | pulse chat --url ws://HOST:PORT --room ROOM --nick NICK\n       pulse backup --to FILE | pulse restore --from FILE [--force]\n(pulse <command> --help for options)");
  process.exit(2);
}
run(rest).catch((err: Error) => {
  console.error(`pulse ${command}: ${err.message}`);
  process.exit(1);
});
