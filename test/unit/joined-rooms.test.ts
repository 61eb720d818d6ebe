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

  it("goes from none to one to two rooms and back, in every order", () => {
    const rooms = new JoinedRooms();
    rooms.add("a");
    assert.equal(rooms.size, 1);
    assert.equal(rooms.has("a"), true);
    assert.equal(rooms.has("b"), false);
    assert.equal(rooms.delete("b"), false);
    assert.deepEqual([...rooms], ["a"]);
    rooms.add("b");
    assert.deepEqual([...rooms], ["a", "b"]);
    assert.equal(rooms.delete("a"), true);
    assert.deepEqual([...rooms], ["b"]);
    assert.equal(rooms.has("b"), true);
    rooms.add("c").add("d");
    assert.equal(rooms.delete("d"), true);
    assert.deepEqual([...rooms], ["b", "c"]);
    assert.equal(rooms.delete("c"), true);
    assert.deepEqual([...rooms], ["b"]);
    assert.equal(rooms.delete("b"), true);
    assert.equal(rooms.size, 0);
    assert.deepEqual([...rooms], []);
  });
});
