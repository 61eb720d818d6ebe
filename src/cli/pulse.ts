#!/usr/bin/env node

const [command, ...rest] = process.argv.slice(2);
// Each command loads only its own modules: the primary of `serve --workers` stays small.
const commands: Record<string, (argv: string[]) => Promise<void>> = {
  serve: async (argv) => (await import("./serve.js")).serve(argv),
  chat: async (argv) => (await import("./chat.js")).chat(argv),
  backup: async (argv) => (await import("./store-copy.js")).backup(argv),
  restore: async (argv) => (await import("./store-copy.js")).restore(argv),
};
const run = command ? commands[command] : undefined;
if (!run) {
  console.error("usage: pulse serve [--port N ...] | pulse chat --url ws://HOST:PORT --room ROOM --nick NICK\n       pulse backup --to FILE | pulse restore --from FILE [--force]\n(pulse <command> --help for options)");
  process.exit(2);
}
run(rest).catch((err: Error) => {
  console.error(`pulse ${command}: ${err.message}`);
  process.exit(1);
});
