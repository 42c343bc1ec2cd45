-- consume: confirmed -> consumed, by the browser that created the session; the caller then
-- issues the login for the uid in the reply. ARGV[4] SHA-256 (hex) of the secret presented.
-- consumed is terminal, so a second exchange is gone: one QR, one login.
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
if s.state ~= 'confirmed' then
  return qr_reply('conflict')
end
qr_end(s, 'consumed', '{"state":"consumed"}')
return qr_reply('ok')
