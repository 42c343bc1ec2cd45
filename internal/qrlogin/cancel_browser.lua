-- cancel_browser: any live state -> cancelled, by the browser that created the session.
-- ARGV[4] SHA-256 (hex) of the secret presented.
-- The secret is checked before the state, so that knowing the id (it is in the QR) tells
-- nothing about the session beyond its existence.
local s = qr_load()
if not s then
  return { 'notfound' }
end
qr_settle(s, qr_now())
if not qr_same(s.secret_sha256, ARGV[4]) then
  return qr_reply('forbidden')
end
if qr_terminal[s.state] then
  return qr_reply('gone')
end
qr_end(s, 'cancelled', '{"state":"cancelled","by":"browser"}')
return qr_reply('ok')
