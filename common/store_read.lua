-- Reads the retained events of several channels after a cursor, merged in id order.
-- KEYS: last id, epoch, then one history key per channel.
-- ARGV: cursor ("" reads nothing: only the last id; "0-0" reads from the oldest
--       retained), the most events to return, history age (ms).
-- Returns {last id, truncated, cut, id, envelope, id, envelope, ...}: truncated is 0
-- when Redis holds every event after the cursor, 1 when some were trimmed or expired
-- (the SQL archive may hold them), 2 when Redis lost its data set (see the epoch:
-- what it lost before archiving it is unknown); cut ("" when 0) is an id every event
-- Redis may lack comes before, so an archive holding everything before cut fills the gap.
-- uses: ids.lua
local last = redis.call('GET', KEYS[1]) or '0-0'
local since, cap = ARGV[1], tonumber(ARGV[2])
if since == '' then return {last, 0, ''} end
local truncated, cut = 0, ''
local function gap(kind, bound)
  if kind > truncated then truncated = kind end
  if cut == '' or before(cut, bound) then cut = bound end
end
if since ~= '0-0' then
  -- A cursor from before this data set began (see store_write.lua): what came between
  -- may be lost. No epoch yet: the data set is new or was lost, and began at the latest now.
  local epoch = tonumber(redis.call('GET', KEYS[2]) or now_ms())
  if parse(since) < epoch then gap(2, string.format('%.0f-0', epoch)) end
end
local events = {}
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if since ~= '0-0' then
      local info = redis.call('XINFO', 'STREAM', KEYS[i])
      for k = 1, #info, 2 do
        if info[k] == 'max-deleted-entry-id' and before(since, info[k + 1]) then
          local a, b = parse(info[k + 1])
          gap(1, string.format('%.0f-%.0f', a, b + 1))
        end
      end
    end
    local start = since == '0-0' and '-' or '(' .. since
    for _, e in ipairs(redis.call('XRANGE', KEYS[i], start, '+', 'COUNT', cap)) do
      events[#events + 1] = {e[1], e[2][2]}
    end
  elseif since ~= '0-0' then
    -- No history at all: anything it held expired, and was older than the age window.
    local floor = now_ms() - tonumber(ARGV[3])
    if parse(since) <= floor then gap(1, string.format('%.0f-0', floor + 1)) end
  end
end
table.sort(events, function(x, y) return before(x[1], y[1]) end)
local out = {last, truncated, cut}
for k = 1, math.min(cap, #events) do
  out[#out + 1] = events[k][1]
  out[#out + 1] = events[k][2]
end
return out
