-- Appends a batch of events, grouped by topic, with sse_append: each event is stored and
-- announced exactly as a single publish would (same ids, same previous-id chain).
--
-- KEYS: per topic group, its stream and meta. ARGV[1] publish_cmd, [2] maxlen, [3] ttl_ms;
-- then per group: its channel, its event count n, and n pairs (event, data).
--
-- Every key is checked before anything is written, and Redis refuses a script for lack of
-- memory only at its first write: a batch is written whole or not at all. Returns the ids,
-- group after group.
for i = 1, #KEYS, 2 do
  local stream = redis.call('TYPE', KEYS[i])['ok']
  local meta = redis.call('TYPE', KEYS[i + 1])['ok']
  if (stream ~= 'none' and stream ~= 'stream') or (meta ~= 'none' and meta ~= 'hash') then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' or ' .. KEYS[i + 1] .. ' holds another type')
  end
end
local publish_cmd, maxlen, ttl_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ids, a = {}, 4
for i = 1, #KEYS, 2 do
  local channel, n = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    ids[#ids + 1] = sse_append(KEYS[i], KEYS[i + 1], channel, maxlen, ttl_ms, ARGV[a], ARGV[a + 1], publish_cmd)
    a = a + 2
  end
end
return ids
