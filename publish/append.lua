-- sse_append appends one event to a topic's history and announces it, as one atomic step, so
-- that an event is never announced without being stored, nor stored without being announced.
--
-- stream and meta are the topic's keys (they share a hash tag, so they live in one slot);
-- meta holds `last` (the newest id ever appended) and `floor` (the newest id ever dropped
-- from the history, by trimming or by expiry). A reader resuming after an id below `floor`
-- knows it missed events and says so instead of skipping silently.
--
-- The announcement is "<prev> <id> <event>\n<data>": it carries the id of the event before
-- it, so a reader whose last forwarded id differs from <prev> knows pub/sub dropped something
-- and recovers the gap from the stream (pub/sub alone is at-most-once).
--
-- publish_cmd is 'SPUBLISH' in a Redis Cluster (sharded pub/sub: the announcement goes to the
-- shard serving the channel's slot, where a PUBLISH is copied to every node), anything else
-- means PUBLISH. The channel carries the topic's hash tag, so it is in the slot of stream and
-- meta, as a script's shard channel must be.
local function sse_append(stream, meta, channel, maxlen, ttl_ms, event, data, publish_cmd)
  local prev = redis.call('HGET', meta, 'last')
  local len = redis.call('XLEN', stream)
  if prev and len == 0 then
    -- The history expired while the topic's position was still known: all of it is gone.
    redis.call('HSET', meta, 'floor', prev)
  elseif len >= maxlen then
    local gone = redis.call('XRANGE', stream, '-', '+', 'COUNT', len - maxlen + 1)
    redis.call('HSET', meta, 'floor', gone[#gone][1])
  end
  local id = redis.call('XADD', stream, 'MAXLEN', maxlen, '*', 'e', event, 'd', data)
  redis.call('HSET', meta, 'last', id)
  redis.call('PEXPIRE', stream, ttl_ms)
  -- The position outlives the history, so a late reader learns that it lost events.
  redis.call('PEXPIRE', meta, ttl_ms * 2)
  if publish_cmd ~= 'SPUBLISH' then
    publish_cmd = 'PUBLISH'
  end
  redis.call(publish_cmd, channel, (prev or '0-0') .. ' ' .. id .. ' ' .. event .. '\n' .. data)
  return id
end
