-- Channel information for the backend: one channel (ARGV[1] "one"), a page of channels by
-- name prefix ("list"), or a channel's history deleted ("delete").
-- one:    KEYS: h:CHANNEL, w:CHANNEL. ARGV: "one", now ms.
--         Returns {subscribers, retained, last id or ""}.
-- delete: KEYS: h:CHANNEL. ARGV: "delete". Returns the events removed.
-- list:   KEYS: none. ARGV: "list", now ms, key prefix (P), MATCH pattern (P[hw]:PREFIX*, glob
--         characters escaped), SCAN cursor, most channels, most keys looked at.
--         Returns {next cursor ("0": done), name, subscribers, retained, last id, ...}: the
--         channels with a history or waiting requests, each once (a channel with both is
--         listed from its history key).
local function one(h, w, now)
  redis.call('ZREMRANGEBYSCORE', w, '-inf', now)
  local retained, last = 0, ''
  if redis.call('EXISTS', h) == 1 then
    retained = redis.call('XLEN', h)
    local e = redis.call('XREVRANGE', h, '+', '-', 'COUNT', 1)
    if #e > 0 then last = e[1][1] end
  end
  return redis.call('ZCARD', w), retained, last
end
if ARGV[1] == 'one' then
  local s, r, l = one(KEYS[1], KEYS[2], ARGV[2])
  return {s, r, l}
end
if ARGV[1] == 'delete' then
  local n = 0
  if redis.call('EXISTS', KEYS[1]) == 1 then n = redis.call('XLEN', KEYS[1]) end
  redis.call('DEL', KEYS[1])
  return n
end
local now, p, cursor = ARGV[2], ARGV[3], ARGV[5]
local most, budget = tonumber(ARGV[6]), tonumber(ARGV[7])
local out, found, seen = {''}, 0, 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[4], 'COUNT', 100)
  cursor = r[1]
  seen = seen + 100
  for _, key in ipairs(r[2]) do
    local kind, name = string.sub(key, #p + 1, #p + 1), string.sub(key, #p + 3)
    if kind == 'h' or redis.call('EXISTS', p .. 'h:' .. name) == 0 then
      local s, n, l = one(p .. 'h:' .. name, p .. 'w:' .. name, now)
      if kind == 'h' or s > 0 then
        out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = name, s, n, l
        found = found + 1
      end
    end
  end
until cursor == '0' or found >= most or seen >= budget
out[1] = cursor
return out
