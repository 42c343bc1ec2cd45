-- create: a new pending session. ARGV[4] TTL in ms, [5] SHA-256 (hex) of the browser secret,
-- [6] requester IP, [7] requester user agent.
-- An existing key is never overwritten: a session must not be replaced under a browser that
-- holds it, whatever the id's origin.
if redis.call('EXISTS', qr_key) == 1 then
  return { 'exists' }
end
local now = qr_now()
local ttl = tonumber(ARGV[4])
local expires = now + ttl
local s = {}
qr_move(s, 'pending', string.format('{"state":"pending","expires_at":%d}', expires), ttl + qr_retention,
  'created', now, 'expires', expires, 'secret_sha256', ARGV[5], 'ip', ARGV[6], 'ua', ARGV[7])
return qr_reply('ok')
