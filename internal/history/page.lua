-- Reads a page of a topic's history and where the topic stands, in one atomic step, so the
-- reader can tell "nothing happened" from "what happened is gone".
-- KEYS[1] stream, KEYS[2] meta; ARGV[1] first id to read ('-' for the oldest kept),
-- ARGV[2] most events, ARGV[3] most bytes (the events' ids, names and data together).
-- Returns {events, last, floor, stream exists, more events follow the last returned}.
local limit, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local page, size, more, from = {}, 0, 0, ARGV[1]
while true do
  -- Small reads, so that Redis too holds little more than the budget at once (events may
  -- be Stream.MaxPayload each); one past the limit tells whether more follow.
  local want = math.min(limit - #page + 1, 32)
  local chunk = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', want)
  for _, e in ipairs(chunk) do
    local n = #e[1]
    for i = 2, #e[2], 2 do n = n + #e[2][i] end
    -- The first event goes in whatever its size, so that paging always moves on.
    if #page == limit or (#page > 0 and size + n > budget) then
      more = 1
      break
    end
    page[#page + 1] = e
    size = size + n
  end
  if more == 1 or #chunk < want then break end
  from = '(' .. page[#page][1]
end
local meta = redis.call('HMGET', KEYS[2], 'last', 'floor')
return {page, meta[1] or '', meta[2] or '', redis.call('EXISTS', KEYS[1]), more}
