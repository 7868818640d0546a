-- Where presence keeps an identity on a channel (prepended to each script whose header
-- says "-- uses: presence.lua"): P p:CHANNEL for the listed ("u:") ones, P pa:CHANNEL for
-- the anonymous ("a:") ones, which are counted but not listed.
local function presence_key(pre, channel, who)
  return pre .. (string.sub(who, 1, 2) == 'u:' and 'p:' or 'pa:') .. channel
end
local function presence_count(pre, channel)
  return redis.call('ZCARD', pre .. 'p:' .. channel) + redis.call('ZCARD', pre .. 'pa:' .. channel)
end
