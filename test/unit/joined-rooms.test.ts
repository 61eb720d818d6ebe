import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { JoinedRooms } from "../../src/server/joined-rooms.js";

describe("JoinedRooms", () => {
  it("behaves like the Set it replaces: no duplicates, delete says whether it was there, order kept", () => {
    const rooms = new JoinedRooms();
    assert.equal(rooms.size, 0);
    rooms.add("a").add("b").add("a").add("c");
    assert.equal(rooms.size, 3);
    assert.deepEqual([...rooms], ["a", "b", "c"]);
    assert.ok(rooms.has("b"));
    assert.equal(rooms.delete("b"), true);
    assert.equal(rooms.delete("b"), false);
    assert.equal(rooms.has("b"), false);
    assert.deepEqual([...rooms], ["a", "c"]);
    rooms.delete("a");
    rooms.delete("c");
    assert.equal(rooms.size, 0);
    assert.deepEqual([...rooms], []);
  });

  it("iterating a copy while leaving every room leaves them all", () => {
    const rooms = new JoinedRooms();
    for (const r of ["x", "y", "z"]) rooms.add(r);
    for (const r of [...rooms]) rooms.delete(r);
    assert.equal(rooms.size, 0);
  });
});
