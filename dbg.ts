import { monitorEventLoopDelay } from "node:perf_hooks";
import { MemoryStore } from "/work/wt-resource/src/store/index.js";
import { testServer } from "/work/wt-resource/test/support/test-server.js";
import { RawClient } from "/work/wt-resource/test/support/raw-client.js";
import { fillRoom } from "/work/wt-resource/test/support/fill-room.js";
const store = new MemoryStore();
const server = await testServer({ store });
const bomb = "\u0001".repeat(4_000);
await fillRoom(store, "bomb", 10_000, () => bomb);
const attackers = await Promise.all([1, 2, 3].map((i) => RawClient.hello(server.url, `mallory${i}`)));
for (let round = 0; round < 3; round++) {
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let last = performance.now(); let worst = 0;
const iv = setInterval(() => { const n = performance.now(); worst = Math.max(worst, n - last); last = n; }, 1);
const t0 = performance.now();
for (const a of attackers) { a.received.length = 0; a.send({ type: "join", room: "bomb"+(round? "" : ""), since: 0, epoch: store.epoch }); }
for (const a of attackers) await a.next("joined", () => true, 30_000);
clearInterval(iv);
loop.disable();
console.log("round", round, "max", loop.max / 1e6, "worst interval", worst.toFixed(1), "took", (performance.now() - t0).toFixed(0));
for (const a of attackers) { a.send({ type: "leave", room: "bomb" }); await a.next("left"); }
}
for (const a of attackers) a.close();
await server.close();
