-- Counts one take of a fixed-window rate limit and tells where the window stands.
-- KEYS[1]: the counter of one key; ARGV[1]: the window, in milliseconds.
-- Returns {takes in this window, this one included; milliseconds left in the window}.
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- The first take opens the window. A counter found without a TTL (left by someone
  -- else) gets one too, so that it cannot block its key for ever.
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}
