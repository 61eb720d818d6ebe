/**
 * One load-generator process of `npm run bench:cluster`: holds its share of the room's members
 * and obeys the coordinator (bench/cluster.ts) over IPC. Several of these run at once, so the
 * generator is not one process saturating one core before the servers do.
 *
 * Each member binds its socket to a 127.0.0.x source address chosen from its index
 * (`sourceAddress`), so no address holds more connections than the server's per-IP cap.
 */
import { connectors, wallMs, type Member } from "./members.js";
import type { GeneratorReply, GeneratorRequest } from "./ipc.js";

const members = new Map<number, Member>();
let flooding = false;
let nextId = 0;

const reply = (re: number, body: GeneratorReply): void => void process.send!({ re, ...body });

async function connect(req: Extract<GeneratorRequest, { op: "connect" }>): Promise<void> {
  const connect = connectors[req.kind];
  // Batches of 50: a thousand upgrades at once would measure the accept queue, not the room.
  for (let k = 0; k < req.members.length; k += 50) {
    const batch = req.members.slice(k, k + 50);
    const joined = await Promise.all(batch.map((m) => connect(m.url, m.index, m.localAddress)));
    batch.forEach((m, j) => members.set(m.index, joined[j]!));
  }
}

function startFlood(senders: number[], window: number, text: string, tag: string): void {
  flooding = true;
  for (const index of senders) {
    const m = members.get(index)!;
    m.sendNext = () => {
      if (flooding) m.send(`${tag}-${index}-${nextId++}`, text);
    };
    for (let w = 0; w < window; w++) m.sendNext();
  }
}

const received = (): number => {
  let n = 0;
  for (const m of members.values()) n += m.received;
  return n;
};

/** Resolves with the time the last of this process's members saw `text`, or null after `timeoutMs`. */
async function lastSeen(text: string, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last = 0;
    let all = true;
    for (const m of members.values()) {
      const at = m.probeSeen.get(text);
      if (at === undefined) {
        all = false;
        break;
      }
      if (at > last) last = at;
    }
    if (all) return last;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 1));
  }
}

process.on("message", (req: GeneratorRequest & { seq: number }) => {
  switch (req.op) {
    case "connect":
      connect(req).then(
        () => reply(req.seq, { members: members.size }),
        (err: Error) => {
          console.error(`generator: ${err.message}`);
          process.exit(1);
        },
      );
      return;
    case "flood":
      startFlood(req.senders, req.window, req.text, req.tag);
      return reply(req.seq, {});
    case "flood-stop":
      flooding = false;
      return reply(req.seq, {});
    case "count":
      return reply(req.seq, { received: received() });
    case "probe": {
      const sentAt = wallMs();
      if (req.sender !== null) members.get(req.sender)!.send(`p-${req.text}`, req.text);
      void lastSeen(req.text, req.timeoutMs).then((lastAt) => reply(req.seq, { lastAt, ...(req.sender !== null ? { sentAt } : {}) }));
      return;
    }
    case "close":
      for (const m of members.values()) m.close();
      members.clear();
      reply(req.seq, {});
      setTimeout(() => process.exit(0), 100);
      return;
  }
});
// The coordinator went away: so do we (a generator must never outlive its run).
process.on("disconnect", () => process.exit(0));
