-- cancel_phone: scanned or confirmed -> cancelled, by the user who scanned. ARGV[4] uid.
-- The precedence is confirm's: before a scan no phone has a say yet (conflict).
local s = qr_load()
if not s then
  return { 'notfound' }
end
qr_settle(s, qr_now())
if qr_terminal[s.state] then
  return qr_reply('gone')
end
if s.state == 'pending' then
  return qr_reply('conflict')
end
if s.uid ~= ARGV[4] then
  return qr_reply('forbidden')
end
qr_end(s, 'cancelled', '{"state":"cancelled","by":"phone"}')
return qr_reply('ok')
