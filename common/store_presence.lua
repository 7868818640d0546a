-- Presence (see store_waiting.lua for the keys): the sweep, and the read of who is there.
-- sweep: KEYS: presence, inbox, hooks, stats. ARGV: "sweep", now ms, key prefix (P), webhook
--        queue bound (0: off). For the presence channels due a look (at most 100 a call),
--        each identity due one (at most 1000 a channel) leaves unless a request of it still
--        waits (its member in P w:CHANNEL with a deadline to come): comet-leave and
--        member_removed for a "u:" identity. A remaining one is looked at again at its
--        latest deadline. Returns how many channels were looked at.
-- read:  KEYS: none. ARGV: "read", now ms, key prefix (P), channel, most members.
--        Returns {count, listed, id, info or "", ...}: every present identity counts, the
--        "u:" ones are listed (listed: how many; at most `most` of them follow, in no set
--        order), the anonymous ones are counted, not listed.
-- uses: events.lua
-- uses: presence.lua
local op, now, pre = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- The latest deadline among who's waiting requests on channel, or nil; forgets the
-- requests whose deadline passed.
local function alive(channel, who)
  local pc, w, latest = pre .. 'pc:' .. channel, pre .. 'w:' .. channel, nil
  for _, e in ipairs(redis.call('ZRANGEBYLEX', pc, '[' .. who .. '\n', '(' .. who .. '\v')) do
    local s = tonumber(redis.call('ZSCORE', w, string.sub(e, #who + 2)) or 0)
    if s > now then
      if not latest or s > latest then latest = s end
    else
      redis.call('ZREM', pc, e)
    end
  end
  return latest
end
local function sweep_set(channel, keys, p)
  for _, who in ipairs(redis.call('ZRANGEBYSCORE', p, '-inf', now, 'LIMIT', 0, 1000)) do
    local latest = alive(channel, who)
    if latest then
      redis.call('ZADD', p, latest, who)
    else
      local info = redis.call('HGET', pre .. 'pi:' .. channel, who) or ''
      redis.call('ZREM', p, who)
      redis.call('HDEL', pre .. 'pi:' .. channel, who)
      if string.sub(who, 1, 2) == 'u:' then
        announce(keys, channel, 'comet-leave', 'member_removed', string.sub(who, 3), info,
                 presence_count(pre, channel), now)
      end
    end
  end
  return redis.call('ZRANGE', p, 0, 0, 'WITHSCORES')[2]
end
-- Looks at channel's identities due a look, then schedules its next look (or forgets it).
local function sweep_channel(channel, keys)
  local a = sweep_set(channel, keys, pre .. 'p:' .. channel)
  local b = sweep_set(channel, keys, pre .. 'pa:' .. channel)
  local next = a and b and math.min(tonumber(a), tonumber(b)) or a or b
  if next then
    redis.call('ZADD', KEYS[1], next, channel)
  else
    redis.call('ZREM', KEYS[1], channel)
  end
end
if op == 'sweep' then
  local keys = {inbox = KEYS[2], hooks = KEYS[3], stats = KEYS[4], bound = tonumber(ARGV[4])}
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
  for _, channel in ipairs(due) do sweep_channel(channel, keys) end
  return #due
end
local channel, most = ARGV[4], tonumber(ARGV[5])
local ids = redis.call('ZRANGE', pre .. 'p:' .. channel, 0, most - 1)
local infos = #ids > 0 and redis.call('HMGET', pre .. 'pi:' .. channel, unpack(ids)) or {}
local out = {presence_count(pre, channel), redis.call('ZCARD', pre .. 'p:' .. channel)}
for k, who in ipairs(ids) do
  out[#out + 1] = string.sub(who, 3)
  out[#out + 1] = infos[k] or ''
end
return out
