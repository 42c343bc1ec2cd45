-- scan: pending -> scanned. ARGV[4] the scan key read from the QR, [5] uid of the scanning
-- user, [6] masked hint shown to the browser, [7] confirm window in ms.
-- The key is checked before anything else, and a wrong one is answered as an unknown id:
-- whoever knows only the id (it is in the browser's URLs and logs) scans nothing and learns
-- nothing, not even that the session exists or what state it is in.
-- Only the first scan counts; any later one, by the same user or another, is a conflict, so
-- nobody can take over a scanned session.
local s = qr_load()
if not s or not qr_same(s.scan_key, ARGV[4]) then
  return { 'notfound' }
end
local now = qr_now()
qr_settle(s, now)
if qr_terminal[s.state] then
  return qr_reply('gone')
end
if s.state ~= 'pending' then
  return qr_reply('conflict')
end
s.confirm_before = now + tonumber(ARGV[7])
local deadline = qr_deadline(s)
-- The hint goes through cjson so that any character in it stays inside the JSON string.
local data = '{"state":"scanned","hint":' .. cjson.encode(ARGV[6]) ..
  string.format(',"expires_at":%d}', deadline)
qr_move(s, 'scanned', data, deadline - now + qr_retention,
  'uid', ARGV[5], 'hint', ARGV[6], 'confirm_before', s.confirm_before)
return qr_reply('ok')
