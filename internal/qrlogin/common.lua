-- The shared head of every qrlogin script. It is loaded after publish.AppendLua (which defines
-- sse_append) and before the script's own body, so that a transition and the event announcing
-- it are one atomic step: no reader ever sees a state without its event, or the reverse.
--
-- KEYS: [1] the session hash, [2] the topic's stream, [3] the topic's meta hash. All three,
-- and the channel, carry the hash tag {qr:<id>}, so in a Redis Cluster they live in one slot.
-- ARGV: [1] the topic's pub/sub channel, [2] the command announcing on it (PUBLISH or
-- SPUBLISH, see sse_append), [3] Retention in ms; a script's own arguments follow.
local qr_key, qr_stream, qr_meta = KEYS[1], KEYS[2], KEYS[3]
local qr_channel, qr_publish_cmd = ARGV[1], ARGV[2]
local qr_retention = tonumber(ARGV[3])

-- A session announces at most four states, so 16 keeps all of them for a reconnecting browser.
local QR_HISTORY = 16

local qr_terminal = { consumed = true, cancelled = true, expired = true }

-- Deadlines are judged by the Redis clock: it is the one clock every instance shares, and it
-- is read inside the same atomic step that changes the state. Key TTLs are not used for this:
-- Redis evicts expired keys lazily, so a key can outlive its deadline.
local function qr_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- qr_load returns the session's fields as a table, or nil when there is no such session.
local function qr_load()
  local flat = redis.call('HGETALL', qr_key)
  if #flat == 0 then
    return nil
  end
  local s = {}
  for i = 1, #flat, 2 do
    s[flat[i]] = flat[i + 1]
  end
  return s
end

-- qr_deadline is the instant the session expires: its overall deadline, or after a scan the
-- end of the confirm window when that comes first.
local function qr_deadline(s)
  local d = tonumber(s.expires)
  local c = tonumber(s.confirm_before)
  if c and c < d then
    d = c
  end
  return d
end

-- qr_move writes the new state with the position of the event that announces it, and makes
-- the session key live exactly as long as the topic's history (ttl_ms). Extra field/value
-- pairs are written in the same HSET.
local function qr_move(s, state, data, ttl_ms, ...)
  local pos = sse_append(qr_stream, qr_meta, qr_channel, QR_HISTORY, ttl_ms, state, data, qr_publish_cmd)
  redis.call('HSET', qr_key, 'state', state, 'pos', pos, ...)
  redis.call('PEXPIRE', qr_key, ttl_ms)
  s.state = state
end

-- qr_end moves the session to a terminal state and keeps it for Retention, so that late
-- callers learn it is gone instead of being told it never existed.
local function qr_end(s, state, data)
  qr_move(s, state, data, qr_retention)
end

-- qr_settle expires a session whose deadline has passed. Every script calls it first, so an
-- overdue session is never moved anywhere but to expired, whoever touches it first.
local function qr_settle(s, now)
  if not qr_terminal[s.state] and now >= qr_deadline(s) then
    qr_end(s, 'expired', '{"state":"expired"}')
  end
end

-- qr_same compares two digests without stopping at the first difference. The digests are of
-- secrets, so an early exit would leak little anyway; this keeps the comparison uninteresting.
-- It counts differing bytes rather than using the `bit` library, which the embedded
-- development Redis (miniredis) does not have.
local function qr_same(a, b)
  if type(a) ~= 'string' or type(b) ~= 'string' or #a ~= #b or #a == 0 then
    return false
  end
  local diff = 0
  for i = 1, #a do
    if string.byte(a, i) ~= string.byte(b, i) then
      diff = diff + 1
    end
  end
  return diff == 0
end

-- qr_reply answers with an outcome and the session as it now is.
local function qr_reply(outcome)
  return { outcome, redis.call('HGETALL', qr_key) }
end
