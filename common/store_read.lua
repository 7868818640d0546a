-- Reads the retained events of several channels after a cursor, merged in id order.
-- KEYS: last id, then one history key per channel.
-- ARGV: cursor ("" reads nothing: only the last id; "0-0" reads from the oldest
--       retained), the most events to return, history age (ms).
-- Returns {last id, truncated (0/1), id, envelope, id, envelope, ...}.
local function parse(id)
  local a, b = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(a), tonumber(b)
end
local function before(x, y)
  local xa, xb = parse(x)
  local ya, yb = parse(y)
  return xa < ya or (xa == ya and xb < yb)
end

local last = redis.call('GET', KEYS[1]) or '0-0'
local since, cap = ARGV[1], tonumber(ARGV[2])
if since == '' then return {last, 0} end
local truncated = 0
local events = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if since ~= '0-0' then
      local info = redis.call('XINFO', 'STREAM', KEYS[i])
      for k = 1, #info, 2 do
        if info[k] == 'max-deleted-entry-id' and before(since, info[k + 1]) then truncated = 1 end
      end
    end
    local start = since == '0-0' and '-' or '(' .. since
    for _, e in ipairs(redis.call('XRANGE', KEYS[i], start, '+', 'COUNT', cap)) do
      events[#events + 1] = {e[1], e[2][2]}
    end
  elseif since ~= '0-0' then
    -- No history at all: anything it held expired, and was older than the age window.
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local ms = parse(since)
    if ms <= now - tonumber(ARGV[3]) then truncated = 1 end
  end
end
table.sort(events, function(x, y) return before(x[1], y[1]) end)
local out = {last, truncated}
for k = 1, math.min(cap, #events) do
  out[#out + 1] = events[k][1]
  out[#out + 1] = events[k][2]
end
return out
