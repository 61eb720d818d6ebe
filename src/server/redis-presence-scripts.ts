/**
 * Lua for cross-node presence on Redis. Under the key prefix P:
 *   P nodes                 set of live node ids
 *   P node:{id}             "1" with a TTL, refreshed by the node's heartbeat
 *   P node-rooms:{id}       set of rooms where node {id} has members
 *   P online:{room}         hash  "{nodeId}|{nick}" -> "1"
 *   P announced:{room}      set of nicknames whose `join` went out and no `leave` since
 * Frames on a room channel are "<seq> <frame>"; presence frames have seq 0.
 */

/**
 * KEYS: this node's key, the nodes set. ARGV: node id, ttl ms.
 * Returns 1 if the node was still registered, 0 if it had been reaped (or is new).
 */
export const HEARTBEAT_LUA = `
local was = redis.call('SISMEMBER', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1', 'PX', tonumber(ARGV[2]))
redis.call('SADD', KEYS[2], ARGV[1])
return was
`;

/**
 * Announces a dead node's members as `leave` (reason timeout) and forgets them. Runs once per
 * dead node: the SREM decides which of the surviving nodes does it. In each room the node had
 * members in (or had a leave not yet published: the room stays in its set until then), every
 * announced nickname no longer online through a live node gets its `leave`: the node's own
 * members, and a leave it wrote to the hash but died before publishing.
 * KEYS: the nodes set, the dead node's rooms set, the dead node's key.
 * ARGV: dead node id, key prefix, publish command.
 * Returns how many leaves were announced.
 */
export const REAP_NODE_LUA = `
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local announced = 0
for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local online = ARGV[2] .. 'online:' .. room
  local gone, still = {}, {}
  for _, field in ipairs(redis.call('HKEYS', online)) do
    local sep = string.find(field, '|', 1, true)
    local node, nick = string.sub(field, 1, sep - 1), string.sub(field, sep + 1)
    if node == ARGV[1] then
      redis.call('HDEL', online, field)
      gone[nick] = true
    else
      still[nick] = true
    end
  end
  local changes, count = {}, 0
  for _ in pairs(still) do count = count + 1 end
  -- Those it had online (others may have seen them listed in a joined before their join was
  -- announced), and those announced whose leave it wrote but did not publish.
  local announcedKey = ARGV[2] .. 'announced:' .. room
  for _, nick in ipairs(redis.call('SMEMBERS', announcedKey)) do gone[nick] = true end
  for nick in pairs(gone) do
    -- A nickname still online through another node has not left the room.
    if not still[nick] then
      table.insert(changes, { event = 'leave', nick = nick, reason = 'timeout' })
      redis.call('SREM', announcedKey, nick)
    end
  end
  if #changes > 0 then
    redis.call(ARGV[3], ARGV[2] .. 'room:' .. room, '0 ' .. cjson.encode({ type = 'presence', room = room, changes = changes, count = count }))
    announced = announced + #changes
  end
end
redis.call('DEL', KEYS[2])
return announced
`;

/**
 * Publishes a node's presence changes for a room as seen from all nodes. Presence is per
 * nickname: a `leave` of a nickname still online through any node (the same user in another
 * tab on another node) is dropped, since that user has not left the room, and so is a `join` of
 * a nickname whose join already went out (the same user's second tab on another node: each node
 * sees its own first tab). The announced set decides, not the online hash: two tabs joining on
 * two nodes at once each find the other's entry, and only the set lets exactly one join through.
 * The count is the room's distinct nicknames on all nodes (the node's own count knows only its
 * members). The node added or removed its own entry before (same connection, so Redis ran that
 * first). A batch whose changes were all dropped is not published: nothing changed for anyone.
 *
 * A room with more than the online list's length on all nodes together hears only its count,
 * at most once per interval from all nodes together (the sent key's TTL): each node knows only
 * its own members, and a node with few of a large room's members batched its changes as a
 * small room's, so one client joining and leaving there sent its name to the whole room every
 * batch. A count that may not go out yet is left to the node, which sends it when told.
 * KEYS: the room's online hash, the room's announced set, the room's count-sent key. ARGV:
 * channel, frame head (up to `"changes":`), the changes as a JSON array, publish command, the
 * online list's length, the interval in ms.
 * Returns the count published; -1 when nothing changed for anyone; -2 - w when the count may go
 * out in w ms.
 */
export const PRESENCE_PUBLISH_LUA = `
local online, count = {}, 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local nick = string.sub(field, string.find(field, '|', 1, true) + 1)
  if not online[nick] then
    online[nick] = true
    count = count + 1
  end
end
local changes = cjson.decode(ARGV[3])
local kept = {}
for _, change in ipairs(changes) do
  if change.event == 'join' then
    if redis.call('SADD', KEYS[2], change.nick) == 1 then table.insert(kept, change) end
  elseif change.event == 'leave' then
    if not online[change.nick] then
      redis.call('SREM', KEYS[2], change.nick)
      table.insert(kept, change)
    end
  else
    table.insert(kept, change)
  end
end
if #changes > 0 and #kept == 0 then return -1 end
-- cjson writes an empty table as {}: a count-only frame spells its empty array itself.
local encoded = '[]'
if count > tonumber(ARGV[5]) then
  local wait = redis.call('PTTL', KEYS[3])
  if wait > 0 then return -2 - wait end
  redis.call('SET', KEYS[3], '1', 'PX', tonumber(ARGV[6]))
elseif #kept > 0 then
  encoded = cjson.encode(kept)
end
redis.call(ARGV[4], ARGV[1], '0 ' .. ARGV[2] .. encoded .. ',"count":' .. count .. '}')
return count
`;
