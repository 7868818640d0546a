-- Reads the newest retained events of several channels before a cursor, for /history.
-- KEYS: last id, epoch, then one history key per channel.
-- ARGV: the cursor to read before ("" for none), the most events, history age (ms).
-- Returns {last id, gap, cut, id, envelope, ...}, the events oldest first: the newest
-- ones before the cursor, across the channels. gap is 1 when Redis may lack events
-- older than cut (trimmed, expired, or lost with a data set), and cut then the id below
-- which it may: the events it returns from cut on are all there are, those before cut
-- may not be (the SQL archive fills them).
-- uses: ids.lua
local now = now_ms()
local last = redis.call('GET', KEYS[1]) or '0-0'
local cap = tonumber(ARGV[2])
local cut = string.format('%.0f-0', tonumber(redis.call('GET', KEYS[2]) or now))
local function raise(bound)
  if before(cut, bound) then cut = bound end
end
local events = {}
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for k = 1, #info, 2 do
      if info[k] == 'max-deleted-entry-id' and info[k + 1] ~= '0-0' then
        local a, b = parse(info[k + 1])
        raise(string.format('%.0f-%.0f', a, b + 1))
      end
    end
    local top = ARGV[1] == '' and '+' or '(' .. ARGV[1]
    for _, e in ipairs(redis.call('XREVRANGE', KEYS[i], top, '-', 'COUNT', cap)) do
      events[#events + 1] = {e[1], e[2][2]}
    end
  else
    -- No history: anything it held expired, and was older than the age window.
    raise(string.format('%.0f-0', now - tonumber(ARGV[3]) + 1))
  end
end
table.sort(events, function(x, y) return before(y[1], x[1]) end)
local out = {last, cut == '0-0' and 0 or 1, cut == '0-0' and '' or cut}
for k = math.min(cap, #events), 1, -1 do
  out[#out + 1] = events[k][1]
  out[#out + 1] = events[k][2]
end
return out
