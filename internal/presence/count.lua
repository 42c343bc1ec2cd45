-- Reads a topic's presence: the open streams of its live members (lease not run out by the
-- Redis clock) and their distinct uids. KEYS as in write.lua.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local streams, seen, uids = 0, {}, {}
-- HMGET in chunks: unpack has a bound on its arguments.
for from = 1, #live, 1000 do
  local chunk = {}
  for i = from, math.min(from + 999, #live) do
    chunk[#chunk + 1] = live[i]
  end
  local counts = redis.call('HMGET', KEYS[2], unpack(chunk))
  for i, member in ipairs(chunk) do
    streams = streams + (tonumber(counts[i]) or 0)
    local uid = string.sub(member, string.find(member, '|', 1, true) + 1)
    if uid ~= '' and not seen[uid] then
      seen[uid] = true
      uids[#uids + 1] = uid
    end
  end
end
return {streams, uids}
