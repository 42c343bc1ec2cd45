-- create: a new pending session. ARGV[3] TTL in ms, [4] SHA-256 (hex) of the browser secret,
-- [5] requester IP, [6] requester user agent, [7] the scan key the QR carries.
-- An existing key is never overwritten: a session must not be replaced under a browser that
-- holds it, whatever the id's origin.
if redis.call('EXISTS', qr_key) == 1 then
  return { 'exists' }
end
local now = qr_now()
local ttl = tonumber(ARGV[3])
local expires = now + ttl
local s = {}
qr_move(s, 'pending', string.format('{"state":"pending","expires_at":%d}', expires), ttl + qr_retention,
  'created', now, 'expires', expires, 'secret_sha256', ARGV[4], 'ip', ARGV[5], 'ua', ARGV[6],
  'scan_key', ARGV[7])
return qr_reply('ok')
