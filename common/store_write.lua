-- Stores one inbox entry: assigns each event its global id, appends it to its
-- channel's history, publishes it, and acknowledges the entry, all at once.
-- Runs atomically, so "stored" and "acknowledged" cannot be separated by a crash.
-- With an archive, each event whose mark is "1" is also queued for the archive writer
-- (stream KEYS[6]: id, channel, envelope), in the same atomic step; past the backlog's
-- bound the oldest queued are dropped and counted (stats archive_dropped).
-- KEYS: inbox, last id, lease, stats, epoch, archive, then one history key per event.
-- ARGV: lease token, entry id, history size, history age (ms), reply key or "",
--       pub/sub channel prefix, idempotency hash or "", the last id this worker
--       stored or "", the archive backlog bound (0: no archive), a "1" or "0" per
--       event (archive it or not), then a channel name and an envelope tail per event.
-- uses: ids.lua
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER this worker no longer holds the lease')
end
if redis.call('XACK', KEYS[1], 'workers', ARGV[2]) == 0 then
  return {} -- already stored by an earlier run
end
local now = now_ms()
local ms, n = 0, 0
local last = redis.call('GET', KEYS[2])
if last then ms, n = parse(last) end
-- The epoch: when this data set began. Events older than it may be lost, so readers
-- resuming from before it are told they may have missed some. An empty Redis (a
-- restart without persistence, FLUSHALL) begins now; one that still has the last id
-- but no epoch (written by an older version) lost nothing. The newest id this worker
-- stored being gone means Redis lost acknowledged events (a stale replica promoted).
if not redis.call('GET', KEYS[5]) then
  redis.call('SET', KEYS[5], last and '0' or string.format('%.0f', now))
end
if ARGV[8] ~= '' and before(last or '0-0', ARGV[8]) then
  redis.call('SET', KEYS[5], string.format('%.0f', now))
end
local maxlen, age = tonumber(ARGV[3]), tonumber(ARGV[4])
local floor = string.format('%.0f-0', now - age)
local ids = {}
local cap, queued, delivered = tonumber(ARGV[9]), 0, 0
for i = 7, #KEYS do
  if now > ms then ms, n = now, 0 else n = n + 1 end
  local id = string.format('%.0f-%.0f', ms, n)
  local j = 11 + (i - 7) * 2
  local env = '{"id":"' .. id .. '",' .. ARGV[j + 1]
  local key = KEYS[i]
  -- Trimming by hand, so the newest trimmed id is known: Redis 7.0 records it only
  -- for XDEL, and readers compare it with their cursor to detect a gap.
  local cut = nil
  if redis.call('EXISTS', key) == 0 then
    -- An expired history held only events older than the age window: that bound
    -- stands in for them, so readers with an older cursor learn they may have missed some.
    cut = floor
  end
  redis.call('XADD', key, id, 'e', env)
  local over = redis.call('XLEN', key) - maxlen
  if over > 0 then
    local old = redis.call('XRANGE', key, '-', '+', 'COUNT', over)
    cut = old[#old][1]
    redis.call('XTRIM', key, 'MAXLEN', maxlen)
  end
  local aged = redis.call('XREVRANGE', key, '(' .. floor, '-', 'COUNT', 1)
  if #aged > 0 then
    if not cut or before(cut, aged[1][1]) then cut = aged[1][1] end
    redis.call('XTRIM', key, 'MINID', floor)
  end
  if cut then
    redis.call('XSETID', key, id, 'MAXDELETEDID', cut)
  end
  redis.call('PEXPIRE', key, age)
  delivered = delivered + redis.call('PUBLISH', ARGV[6] .. ARGV[j], env)
  if cap > 0 and string.byte(ARGV[10], i - 6) == 49 then
    -- Its own entry id ('*'): an event id that went back (Redis lost data) cannot fail it.
    redis.call('XADD', KEYS[6], '*', 'i', id, 'c', ARGV[j], 'e', env)
    queued = queued + 1
  end
  ids[#ids + 1] = id
end
if queued > 0 then
  local over = redis.call('XLEN', KEYS[6]) - cap
  if over > 0 then
    redis.call('XTRIM', KEYS[6], 'MAXLEN', cap)
    redis.call('HINCRBY', KEYS[4], 'archive_dropped', over)
  end
end
redis.call('SET', KEYS[2], ids[#ids])
redis.call('HINCRBY', KEYS[4], 'published', #ids)
-- Deliveries: each event's PUBLISH counts the subscriptions it reached, one per process
-- (and node) waiting on its channel, not each client.
redis.call('HINCRBY', KEYS[4], 'delivered', delivered)
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[5] ~= '' then
  -- The publisher waits on the list (BLPOP) or on the key as a pub/sub channel.
  local json = cjson.encode(ids)
  redis.call('RPUSH', ARGV[5], json)
  redis.call('EXPIRE', ARGV[5], 300)
  redis.call('PUBLISH', ARGV[5], json)
end
-- A retry with the same Idempotency-Key answers with these ids while the key is kept.
if ARGV[7] ~= '' and redis.call('EXISTS', ARGV[7]) == 1 then
  redis.call('HSET', ARGV[7], 'ids', cjson.encode(ids))
end
return ids
