-- Counts a waiting request in, or out of, the waiting sets: all (P waiting), by transport
-- (P wt:TRANSPORT) and per channel (P w:CHANNEL), each a zset of members by deadline (wall
-- ms), so a process killed while waiting is counted only until its deadline. With
-- webhooks on (a queue bound above 0) it also keeps the occupied channels (zset P occupied,
-- each scored by when to look at it again) and queues channel_occupied when a channel
-- gains its first waiting request; when one loses its last, it is looked at again after
-- the grace (a long-poll between two polls does not vacate it), by the worker's sweep
-- (store_webhook.c), which queues channel_vacated.
-- KEYS: waiting, wt:TRANSPORT, occupied, hooks, stats, then w:CHANNEL per channel.
-- ARGV: member, deadline ms (0: count it out), now ms, grace ms, queue bound (0: webhooks
--       off), then the channel names in KEYS' order.
local member, deadline, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local grace, bound = tonumber(ARGV[4]), tonumber(ARGV[5])
local function hook(name, channel)
  if redis.call('LLEN', KEYS[4]) >= bound then
    redis.call('HINCRBY', KEYS[5], 'webhook_dropped', 1)
  else
    redis.call('RPUSH', KEYS[4], cjson.encode({name = name, channel = channel, time_ms = now}))
  end
end
local function enter(key, channel)
  redis.call('ZADD', key, deadline, member)
  if redis.call('PTTL', key) < deadline - now then redis.call('PEXPIREAT', key, deadline) end
  if bound > 0 and not redis.call('ZSCORE', KEYS[3], channel) then
    redis.call('ZADD', KEYS[3], deadline, channel)
    hook('channel_occupied', channel)
  end
end
local function leave(key, channel)
  redis.call('ZREM', key, member)
  if bound > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) == 0 and redis.call('ZSCORE', KEYS[3], channel) then
      redis.call('ZADD', KEYS[3], now + grace, channel)
    end
  end
end
if deadline > 0 then
  redis.call('ZADD', KEYS[1], deadline, member)
  redis.call('ZADD', KEYS[2], deadline, member)
else
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
for i = 6, #KEYS do
  if deadline > 0 then enter(KEYS[i], ARGV[i]) else leave(KEYS[i], ARGV[i]) end
end
return 1
