-- Counts a waiting request in, or out of, the waiting sets: all (P waiting), by transport
-- (P wt:TRANSPORT) and per channel (P w:CHANNEL), each a zset of members by deadline (wall
-- ms), so a process killed while waiting is counted only until its deadline. With
-- webhooks on (a queue bound above 0) it also keeps the occupied channels (zset P occupied,
-- each scored by when to look at it again) and queues channel_occupied when a channel
-- gains its first waiting request; when one loses its last, it is looked at again after
-- the grace (a long-poll between two polls does not vacate it), by the worker's sweep
-- (store_webhook.c), which queues channel_vacated.
-- On a presence channel (a "1" in the flags) it also keeps who is there: P p:CHANNEL (and
-- P pa:CHANNEL for anonymous ones, see presence.lua), zsets of identities, each scored by
-- when the presence sweep (store_presence.lua) looks at it again; P pc:CHANNEL, identity .. "\n" .. member for each waiting request (score
-- 0, so one identity's requests are a lex range); P pi:CHANNEL, identity -> info. A new
-- identity joins (comet-join on the channel, member_added to webhooks, for a "u:" one);
-- one whose request leaves is looked at once the grace has passed, and leaves then if no
-- request of it is left. P presence: the presence channels, scored by their next look.
-- KEYS: waiting, wt:TRANSPORT, occupied, hooks, stats, then w:CHANNEL per channel.
-- ARGV: member, deadline ms (0: count it out), now ms, grace ms, queue bound (0: webhooks
--       off), key prefix (P), identity ("" none), its info (JSON or ""), a "1" or "0" per
--       channel (a presence channel or not), then the channel names in KEYS' order.
-- uses: events.lua
-- uses: presence.lua
local member, deadline, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local grace, bound, pre = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local who, info, flags = ARGV[7], ARGV[8], ARGV[9]
local function keep(key, at)
  if redis.call('PTTL', key) < at - now then redis.call('PEXPIREAT', key, at) end
end
local function enter(key, channel)
  redis.call('ZADD', key, deadline, member)
  keep(key, deadline)
  if bound > 0 and not redis.call('ZSCORE', KEYS[3], channel) then
    redis.call('ZADD', KEYS[3], deadline, channel)
    hook(KEYS[4], KEYS[5], bound, {name = 'channel_occupied', channel = channel, time_ms = now})
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
local function join(channel, p)
  redis.call('ZADD', p, deadline, who)
  if string.sub(who, 1, 2) ~= 'u:' then return end
  if info ~= '' then redis.call('HSET', pre .. 'pi:' .. channel, who, info) end
  announce({inbox = pre .. 'inbox', hooks = KEYS[4], stats = KEYS[5], bound = bound}, channel, 'comet-join',
           'member_added', string.sub(who, 3), info, presence_count(pre, channel), now)
end
-- The sweep's look comes no later than at, and the keys outlive it by a minute.
local function look(channel, at)
  redis.call('ZADD', pre .. 'presence', 'LT', at, channel)
  for _, kind in ipairs({'p:', 'pa:', 'pc:', 'pi:'}) do keep(pre .. kind .. channel, at + 60000) end
end
local function present(channel)
  local p = presence_key(pre, channel, who)
  redis.call('ZADD', pre .. 'pc:' .. channel, 0, who .. '\n' .. member)
  if redis.call('ZSCORE', p, who) then
    redis.call('ZADD', p, 'GT', deadline, who)
  else
    join(channel, p)
  end
  look(channel, deadline)
end
local function absent(channel)
  redis.call('ZREM', pre .. 'pc:' .. channel, who .. '\n' .. member)
  -- Another request of who may remain: the sweep finds it and looks again later.
  redis.call('ZADD', presence_key(pre, channel, who), 'XX', 'LT', now + grace, who)
  look(channel, now + grace)
end
if deadline > 0 then
  redis.call('ZADD', KEYS[1], deadline, member)
  redis.call('ZADD', KEYS[2], deadline, member)
else
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
for i = 6, #KEYS do
  local channel = ARGV[i + 4]
  if deadline > 0 then enter(KEYS[i], channel) else leave(KEYS[i], channel) end
  if who ~= '' and string.byte(flags, i - 5) == 49 then
    if deadline > 0 then present(channel) else absent(channel) end
  end
end
return 1
