-- Writes one instance's share of a topic's presence, by the Redis clock, and reaps the
-- members whose lease ran out (their instance died or lost Redis).
-- KEYS[1] zset  "<instance>|<uid>" -> lease expiry (ms, Redis clock)
-- KEYS[2] hash  "<instance>|<uid>" -> that instance's open streams of uid on the topic
-- KEYS[3] hash  uid -> how many instances hold a live member of uid ("" uid: not kept)
-- ARGV[1] lease (ms), ARGV[2] instance, then pairs uid, streams (0: the uid left it)
-- Returns {joined uids, left uids}: those whose first stream across instances opened, and
-- whose last one ended or expired.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local inst = ARGV[2]
local joined, left = {}, {}

local function uid_of(member)
  return string.sub(member, string.find(member, '|', 1, true) + 1)
end

local function drop(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  local uid = uid_of(member)
  if uid ~= '' and redis.call('HINCRBY', KEYS[3], uid, -1) <= 0 then
    redis.call('HDEL', KEYS[3], uid)
    left[#left + 1] = uid
  end
end

for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  drop(member)
end

for i = 3, #ARGV, 2 do
  local uid, n = ARGV[i], tonumber(ARGV[i + 1])
  local member = inst .. '|' .. uid
  local had = redis.call('ZSCORE', KEYS[1], member)
  if n > 0 then
    redis.call('ZADD', KEYS[1], now + lease, member)
    redis.call('HSET', KEYS[2], member, n)
    if not had and uid ~= '' and redis.call('HINCRBY', KEYS[3], uid, 1) == 1 then
      joined[#joined + 1] = uid
    end
  elseif had then
    drop(member)
  end
end

-- The keys outlive their last live member by a lease at most.
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], lease * 2)
end
return {joined, left}
