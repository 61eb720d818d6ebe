/**
 * The Lua scripts RedisStore runs. Each runs atomically in Redis: no other command of any
 * node interleaves with it, which is what makes one room's seq a single order across nodes.
 *
 * Key layout under a prefix P (single Redis instance, not Redis Cluster: the scripts touch a
 * global dedupe hash and rooms together):
 *   P epoch, P secret                 strings, SET NX by the first node to open the store;
 *                                     P epoch replaced (RENEW_EPOCH_LUA) when a node finds
 *                                     that Redis lost data it served, P secret then written
 *                                     back from the nodes' memory (SET NX)
 *   P dedupe                          hash  idempotency key -> "seq:room"
 *   P seq:{room}                      string, the room's last assigned seq (INCR)
 *   P log:{room}                      stream, entry id "seq-0", fields u c i f t ts b w
 *                                     (b: the UTF-8 text bytes of the room's messages
 *                                     through this one, trimmed ones included; missing on
 *                                     entries stored before it was kept. w: the entry's
 *                                     messageBytes, what it added to bytes:{room}; missing
 *                                     on entries stored before it was kept, which added
 *                                     their text's bytes)
 *   P bytes:{room}                    string, the room's running count: what its held
 *                                     entries added (w), plus ROOM_OVERHEAD_BYTES for a
 *                                     room that started since w was kept
 *   P held                            string, what all rooms written since it was kept hold
 *                                     (bytes:{room} plus the per-message overhead)
 *   P sizes                           sorted set  room scored by what it holds (bytes:{room}
 *                                     plus the per-message overhead)
 *   P written, P tick                 the order before P sizes (room scored by the append
 *                                     count at its last write); rooms still in it move to
 *                                     P sizes, LEGACY_MOVES at each append
 *   P floor                           string, the seq a room dropped whole starts again above
 *   P nick:{key}                      hash  user nick seen used until (holds written
 *                                     before use was counted have no used/until: they
 *                                     are held LEGACY_HOLD_MS from seen)
 *   P nicks                           sorted set  key scored by when its hold ends (for
 *                                     purge; by seen for holds written before)
 */

/** Rooms moved from the order before P sizes (P written) at each append. */
const LEGACY_MOVES = 100;

/** Same construction as the other engines: length-prefixed, so no two triples share a key. */
const IDEMPOTENCY_KEY_LUA = `
local function idem(u, c, i) return string.len(u) .. ':' .. u .. string.len(c) .. ':' .. c .. i end
`;

/**
 * KEYS: dedupe hash, room seq counter, room stream, room text bytes.
 * ARGV: userId, clientId, id, from, text, ts, retainPerRoom, channel ("" = none),
 *       frame head, frame tail, room, key prefix, publish command, retainBytesPerRoom,
 *       per-message overhead bytes, retainBytesTotal, dropAllowance(1), the message's
 *       messageBytes, ROOM_OVERHEAD_BYTES.
 * Returns {0, seq} for a new message, {1, room, seq, fields} for a duplicate.
 *
 * Trimming keeps the room within both limits as the other engines do (retention.ts,
 * overRetention): oldest first, never the newest message. Then, over retainBytesTotal, the
 * largest room (P sizes) gives up its oldest messages until it holds less than the next largest
 * or the total is met, then the next largest, and so on (RetentionOptions.retainBytesTotal). A
 * room down to its newest message goes whole when it is the largest, never this one; P floor
 * moves above its latest seq, and a room's seq counter starts from it when the room has none.
 * At most dropAllowance(1) messages are deleted so. Rooms stored before P held was kept count
 * from their first write after it.
 */
export const APPEND_LUA = `${IDEMPOTENCY_KEY_LUA}
local key = idem(ARGV[1], ARGV[2], ARGV[3])
local hit = redis.call('HGET', KEYS[1], key)
if hit then
  local sep = string.find(hit, ':', 1, true)
  local seq = string.sub(hit, 1, sep - 1)
  local room = string.sub(hit, sep + 1)
  local found = redis.call('XRANGE', ARGV[12] .. 'log:' .. room, seq .. '-0', seq .. '-0')
  if #found == 0 then return redis.error_reply('dedupe key points at a missing message') end
  return {1, room, seq, found[1][2]}
end
local function fieldsOf(entry)
  local f = {}
  for n = 1, #entry[2], 2 do f[entry[2][n]] = entry[2][n + 1] end
  return f
end
local function nextId(entry) return (tonumber(string.match(entry[1], '^%d+')) + 1) .. '-0' end
-- What an entry added to its room's count: w, or its text's bytes when stored before w was kept.
local function weight(f) return tonumber(f.w) or string.len(f.t) end
local bytes = redis.call('GET', KEYS[4])
if bytes then
  bytes = tonumber(bytes)
else
  -- A new room (or one dropped whole) starts with its own cost; a room stored before its
  -- count was kept has its entries summed once too.
  bytes = tonumber(ARGV[19])
  local cursor = '-'
  repeat
    local chunk = redis.call('XRANGE', KEYS[3], cursor, '+', 'COUNT', 1000)
    for _, entry in ipairs(chunk) do
      bytes = bytes + weight(fieldsOf(entry))
      cursor = nextId(entry)
    end
  until #chunk < 1000
end
-- The running byte count through the newest message, kept on every entry: the bytes of a seq
-- range are two lookups (TEXT_BYTES_BETWEEN_LUA). After an entry stored without it, the
-- count starts again from the bytes held, which only ranges of such entries cannot use.
local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
local through = newest and tonumber(fieldsOf(newest).b) or bytes
local P = ARGV[12]
local overhead = tonumber(ARGV[15])
local bytesBefore = bytes
local seq = redis.call('INCR', KEYS[2])
if seq == 1 then
  -- A room with no counter (new, or dropped whole) starts above the floor.
  local floor = tonumber(redis.call('GET', P .. 'floor') or '0')
  if floor > 0 then seq = redis.call('INCRBY', KEYS[2], floor) end
end
redis.call('XADD', KEYS[3], seq .. '-0', 'u', ARGV[1], 'c', ARGV[2], 'i', ARGV[3], 'f', ARGV[4], 't', ARGV[5], 'ts', ARGV[6], 'b', through + string.len(ARGV[5]), 'w', ARGV[18])
redis.call('HSET', KEYS[1], key, seq .. ':' .. ARGV[11])
bytes = bytes + tonumber(ARGV[18])
local retain, budget = tonumber(ARGV[7]), tonumber(ARGV[14])
local count = redis.call('XLEN', KEYS[3])
local room = ARGV[11]
-- What the room held before this append, as counted in P held: nothing when neither order
-- lists it (a new room, or one stored before P held was kept).
local before = bytesBefore + (count - 1) * overhead
if not redis.call('ZSCORE', P .. 'sizes', room) and redis.call('ZREM', P .. 'written', room) == 0 then before = 0 end
local allowance = tonumber(ARGV[17])
local trimmed = 0
-- At most the allowance at once: a room far over its limits (lowered since) gets there over several appends.
local function over() return count > 1 and trimmed < allowance and (count > retain or bytes + count * overhead > budget) end
if over() then
  local cursor = '-'
  -- The first read covers the count excess (usually 1); more only when bytes need it.
  local want = math.min(math.max(count - retain, 1), 1000)
  while over() do
    local chunk = redis.call('XRANGE', KEYS[3], cursor, '+', 'COUNT', want)
    if #chunk == 0 then break end
    for _, entry in ipairs(chunk) do
      if not over() then break end
      local f = fieldsOf(entry)
      -- Trimmed messages forget their keys, as in the other engines.
      redis.call('HDEL', KEYS[1], idem(f.u, f.c, f.i))
      bytes = bytes - weight(f)
      count = count - 1
      trimmed = trimmed + 1
      cursor = nextId(entry)
    end
    want = 64
  end
  redis.call('XTRIM', KEYS[3], 'MAXLEN', count)
end
redis.call('SET', KEYS[4], bytes)
local held = redis.call('INCRBY', P .. 'held', bytes + count * overhead - before)
redis.call('ZADD', P .. 'sizes', bytes + count * overhead, room)
-- Rooms in the order before P sizes were all counted in P held and keep their bytes key.
for _, r in ipairs(redis.call('ZRANGE', P .. 'written', 0, ${LEGACY_MOVES - 1})) do
  local b = tonumber(redis.call('GET', P .. 'bytes:' .. r) or '0')
  redis.call('ZADD', P .. 'sizes', b + redis.call('XLEN', P .. 'log:' .. r) * overhead, r)
  redis.call('ZREM', P .. 'written', r)
end
local total = tonumber(ARGV[16])
local cutLeft = allowance
-- This room down to its one message is neither cut nor dropped: out of the order meanwhile.
local shelved = false
while held > total and cutLeft > 0 do
  local top = redis.call('ZREVRANGE', P .. 'sizes', 0, 1, 'WITHSCORES')
  if #top == 0 then break end
  local victim, victimHeld, nextHeld = top[1], tonumber(top[2]), tonumber(top[4] or '0')
  local log = P .. 'log:' .. victim
  local n = redis.call('XLEN', log)
  if n <= 1 and victim == room then
    redis.call('ZREM', P .. 'sizes', victim)
    shelved = true
  elseif n <= 1 then
    for _, entry in ipairs(redis.call('XRANGE', log, '-', '+')) do
      local f = fieldsOf(entry)
      redis.call('HDEL', KEYS[1], idem(f.u, f.c, f.i))
    end
    local last = tonumber(redis.call('GET', P .. 'seq:' .. victim) or '0')
    redis.call('DEL', log, P .. 'bytes:' .. victim, P .. 'seq:' .. victim)
    redis.call('ZREM', P .. 'sizes', victim)
    held = redis.call('INCRBY', P .. 'held', -victimHeld)
    if last + 1 > tonumber(redis.call('GET', P .. 'floor') or '0') then redis.call('SET', P .. 'floor', last + 1) end
    cutLeft = cutLeft - 1
  else
    local take, counted, freed = 0, 0, 0
    local function more() return n - take > 1 and take < cutLeft and held - freed > total and victimHeld - freed >= nextHeld end
    local cursor = '-'
    local want = 16
    while more() do
      local chunk = redis.call('XRANGE', log, cursor, '+', 'COUNT', want)
      if #chunk == 0 then break end
      for _, entry in ipairs(chunk) do
        if not more() then break end
        local f = fieldsOf(entry)
        redis.call('HDEL', KEYS[1], idem(f.u, f.c, f.i))
        local w = weight(f)
        counted = counted + w
        freed = freed + w + overhead
        take = take + 1
        cursor = nextId(entry)
      end
      want = 64
    end
    -- The largest room always gives up one: none means its score and stream disagree, and the
    -- loop would spin inside the script. The message is stored by now (a script is not rolled
    -- back), so it still goes out; the total waits for the next append.
    if take == 0 then
      redis.log(redis.LOG_WARNING, 'pulse: P sizes disagrees with the stream of ' .. victim)
      break
    end
    redis.call('XTRIM', log, 'MAXLEN', n - take)
    if redis.call('EXISTS', P .. 'bytes:' .. victim) == 1 then redis.call('DECRBY', P .. 'bytes:' .. victim, counted) end
    held = redis.call('INCRBY', P .. 'held', -freed)
    redis.call('ZADD', P .. 'sizes', victimHeld - freed, victim)
    cutLeft = cutLeft - take
  end
end
if shelved then
  redis.call('ZADD', P .. 'sizes', tonumber(redis.call('GET', KEYS[4])) + redis.call('XLEN', KEYS[3]) * overhead, room)
end
if ARGV[8] ~= '' then
  redis.call(ARGV[13], ARGV[8], seq .. ' ' .. ARGV[9] .. seq .. ARGV[10])
end
return {0, seq}
`;

/**
 * The UTF-8 bytes of the texts of the messages with after < seq <= through, from the running
 * counts on the entries: the count through the newest entry in range minus the count before
 * the oldest one in range (its count less its own text). Two lookups, whatever the range's size.
 * KEYS: the room's stream. ARGV: after, through.
 * Returns the bytes, or -1 when an entry it needs was stored before the counts were kept.
 */
export const TEXT_BYTES_BETWEEN_LUA = `
local function field(entry, name)
  for n = 1, #entry[2], 2 do
    if entry[2][n] == name then return entry[2][n + 1] end
  end
  return nil
end
local after, through = tonumber(ARGV[1]), tonumber(ARGV[2])
if through <= after then return 0 end
local top = redis.call('XREVRANGE', KEYS[1], through .. '-0', '-', 'COUNT', 1)[1]
if not top or tonumber(string.match(top[1], '^%d+')) <= after then return 0 end
local upto = tonumber(field(top, 'b'))
if not upto then return -1 end
local first = redis.call('XRANGE', KEYS[1], (after + 1) .. '-0', '+', 'COUNT', 1)[1]
local from = tonumber(field(first, 'b'))
if not from then return -1 end
return upto - (from - string.len(field(first, 't')))
`;

/**
 * Gives the data a new epoch in place of one a node found lost, agreed by every node that finds
 * it: KEYS[1] (P epoch) is set to ARGV[2], a fresh UUID, only when it is missing or still holds
 * ARGV[1], the epoch the node had; otherwise another node (or a node started since, or an
 * operator's restore) already gave one, which stays. Returns what P epoch holds now: nodes that
 * find the same loss at once each send their own candidate, and all adopt the first one's.
 */
export const RENEW_EPOCH_LUA = `
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return held end
redis.call('SET', KEYS[1], ARGV[2])
return ARGV[2]
`;

/** A hold's end; a hold written before use was counted ends `legacyMs` (LEGACY_HOLD_MS) after it was seen. */
const HOLD_END_LUA = `
local function holdEnd(hash, legacyMs)
  local til = tonumber(redis.call('HGET', hash, 'until'))
  if til then return til end
  return tonumber(redis.call('HGET', hash, 'seen')) + legacyMs
end
`;

/**
 * Which nodes have the holder online: a field `live:{node}` per node, holding when that node
 * last said it has a connection of the user under the name (it says so again at least every
 * 60 s while it does, see Nicknames.keepHoldsFresh). One field for all nodes (`live`, still read
 * from holds an older Pulse wrote) was cleared by any node's release while another node still
 * had the user online, so the user's next tab got the spelling it asked for and presence listed
 * one person twice ("Sp..." and "SP...") with the count one too high. That field is dropped
 * when a hold is written (a node of an older Pulse still running reads it as not live).
 *
 * A mark older than `staleMs` is a node that went without releasing (it crashed, or lost
 * Redis): it no longer counts, and is dropped when found. Before, each crash with the user
 * online left one field for good on a hold the user kept using, and kept the user's spelling
 * and hold as that node had them.
 */
const LIVE_LUA = `
local function liveElsewhere(hash, node, now, staleMs)
  local fields = redis.call('HGETALL', hash)
  local live = false
  for i = 1, #fields, 2 do
    local f = fields[i]
    if string.sub(f, 1, 5) == 'live:' and f ~= 'live:' .. node then
      if now - (tonumber(fields[i + 1]) or 0) < staleMs then live = true else redis.call('HDEL', hash, f) end
    end
  end
  return live
end
local function clearLive(hash)
  local fields = redis.call('HKEYS', hash)
  for _, f in ipairs(fields) do
    if f == 'live' or string.sub(f, 1, 5) == 'live:' then redis.call('HDEL', hash, f) end
  end
end
`;

/**
 * KEYS: the nickname's hash, the purge index. ARGV: userId, nick, now, holdMs, key,
 * LEGACY_HOLD_MS, node id, LIVE_MARK_STALE_MS. Returns {0, owner} when refused, {1, use carried over, spelling} when
 * granted: the spelling is the one stored when the same user is online under the name on another
 * node (LIVE_LUA), so every node shows one person one way; else the one asked for.
 */
export const CLAIM_NICKNAME_LUA = HOLD_END_LUA + LIVE_LUA + `
local now = tonumber(ARGV[3])
local owner = redis.call('HGET', KEYS[1], 'user')
local used = 0
local nick = ARGV[2]
if owner then
  local til = holdEnd(KEYS[1], tonumber(ARGV[6]))
  if owner ~= ARGV[1] and now < til then return {0, owner} end
  if owner == ARGV[1] and now < til then
    used = tonumber(redis.call('HGET', KEYS[1], 'used')) or tonumber(ARGV[6])
    if liveElsewhere(KEYS[1], ARGV[7], now, tonumber(ARGV[8])) then nick = redis.call('HGET', KEYS[1], 'nick') or nick end
  else
    clearLive(KEYS[1])
  end
end
local til = now + tonumber(ARGV[4])
redis.call('HDEL', KEYS[1], 'live')
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'nick', nick, 'seen', now, 'used', used, 'until', til, 'live:' .. ARGV[7], now)
redis.call('ZADD', KEYS[2], til, ARGV[5])
return {1, used, nick}
`;

/**
 * KEYS: the nickname's hash, the purge index. ARGV: userId, nick, at, used, held until, key,
 * LEGACY_HOLD_MS, online (1 or 0), node id, LIVE_MARK_STALE_MS. A node whose user left keeps the hold no shorter
 * than it is while another node still has the user online.
 */
export const RELEASE_NICKNAME_LUA = HOLD_END_LUA + LIVE_LUA + `
local owner = redis.call('HGET', KEYS[1], 'user')
if owner and owner ~= ARGV[1] and tonumber(ARGV[3]) < holdEnd(KEYS[1], tonumber(ARGV[7])) then return 0 end
if owner and owner ~= ARGV[1] then clearLive(KEYS[1]) end
local til = tonumber(ARGV[5])
if owner == ARGV[1] and ARGV[8] == '0' and liveElsewhere(KEYS[1], ARGV[9], tonumber(ARGV[3]), tonumber(ARGV[10])) then
  til = math.max(til, tonumber(redis.call('HGET', KEYS[1], 'until')) or til)
end
redis.call('HDEL', KEYS[1], 'live')
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'nick', ARGV[2], 'seen', ARGV[3], 'used', ARGV[4], 'until', til)
if ARGV[8] == '1' then redis.call('HSET', KEYS[1], 'live:' .. ARGV[9], ARGV[3]) else redis.call('HDEL', KEYS[1], 'live:' .. ARGV[9]) end
redis.call('ZADD', KEYS[2], til, ARGV[6])
return 0
`;

/**
 * KEYS: the purge index. ARGV: before, key prefix, batch size, LEGACY_HOLD_MS. Returns how many
 * candidates were handled: dropped, or (a hold written before use was counted, scored by when
 * it was seen) scored again by when it ends.
 */
export const PURGE_NICKNAMES_LUA = HOLD_END_LUA + `
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local dropped = 0
for _, key in ipairs(keys) do
  local hash = ARGV[2] .. 'nick:' .. key
  local til = -1
  if redis.call('EXISTS', hash) == 1 then til = holdEnd(hash, tonumber(ARGV[4])) end
  if til >= tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], til, key)
  else
    redis.call('DEL', hash)
    redis.call('ZREM', KEYS[1], key)
    dropped = dropped + 1
  end
end
return {#keys, dropped}
`;
