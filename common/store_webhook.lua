-- The webhook sweep: occupied channels due a look (zset P occupied, scored by when) are
-- vacated once none of their waiting requests is left (their deadlines passed, or they
-- left and the grace went by): channel_vacated is queued, once, as the channel leaves the
-- zset. A channel still waited on is looked at again when its earliest deadline passes.
-- KEYS: occupied, hooks, stats. ARGV: now ms, queue bound, the w: key prefix (P w:).
-- Returns how many channels were looked at (at most 100 a call).
-- uses: events.lua
local now, bound = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for _, ch in ipairs(due) do
  local key = ARGV[3] .. ch
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', KEYS[1], ch)
    hook(KEYS[2], KEYS[3], bound, {name = 'channel_vacated', channel = ch, time_ms = now})
  else
    redis.call('ZADD', KEYS[1], tonumber(first[2]), ch)
  end
end
return #due
