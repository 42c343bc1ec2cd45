-- confirm: scanned -> confirmed, by the user who scanned. ARGV[4] uid.
-- Before any scan there is no rightful confirmer yet, so that is a state conflict; after it,
-- anyone but the scanner is refused before the state is looked at.
local s = qr_load()
if not s then
  return { 'notfound' }
end
local now = qr_now()
qr_settle(s, now)
if qr_terminal[s.state] then
  return qr_reply('gone')
end
if s.state == 'pending' then
  return qr_reply('conflict')
end
if s.uid ~= ARGV[4] then
  return qr_reply('forbidden')
end
if s.state ~= 'scanned' then
  return qr_reply('conflict')
end
qr_move(s, 'confirmed', '{"state":"confirmed"}', qr_deadline(s) - now + qr_retention)
return qr_reply('ok')
