-- The server's own signals, for the scripts that raise them (prepended to each script
-- whose header says "-- uses: events.lua"): webhook events, queued on the list
-- hooks_key up to bound entries (past it dropped and counted in stats_key), and
-- presence events on a channel, queued in the inbox like a publish, so the worker gives
-- them ids, history and fan-out as it does any event.
local function hook(hooks_key, stats_key, bound, event)
  if redis.call('LLEN', hooks_key) >= bound then
    redis.call('HINCRBY', stats_key, 'webhook_dropped', 1)
  else
    redis.call('RPUSH', hooks_key, type(event) == 'string' and event or cjson.encode(event))
  end
end
-- A presence member as JSON: {"id":…,"info":…} (info: its JSON text as signed, or ''
-- for none), then extra ('' or ',"name":value…') before the closing brace.
local function member_json(id, info, extra)
  return '{"id":' .. cjson.encode(id) .. (info ~= '' and ',"info":' .. info or '') .. extra .. '}'
end
-- A presence change (type comet-join or comet-leave) of member id on channel, with the
-- channel's count after it, as an event; and, with webhooks on (bound above 0), as the
-- webhook event name (member_added or member_removed) at now ms. Channel names need no
-- escaping (envelope.h's characters).
local function announce(keys, channel, type, name, id, info, count, now)
  redis.call('XADD', keys.inbox, '*', channel, '"channel":"' .. channel .. '","event":"' .. type ..
             '","data":' .. member_json(id, info, ',"count":' .. count) .. '}')
  if keys.bound > 0 then
    hook(keys.hooks, keys.stats, keys.bound, '{"name":"' .. name .. '","channel":"' .. channel ..
         '","time_ms":' .. string.format('%.0f', now) .. ',"member":' .. member_json(id, info, '') .. '}')
  end
end
