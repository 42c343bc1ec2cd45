-- scan: pending -> scanned. ARGV[4] uid of the scanning user, [5] masked hint shown to the
-- browser, [6] confirm window in ms. Only the first scan counts; any later one, by the same
-- user or another, is a conflict, so nobody can take over a scanned session.
local s = qr_load()
if not s then
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
s.confirm_before = now + tonumber(ARGV[6])
local deadline = qr_deadline(s)
-- The hint goes through cjson so that any character in it stays inside the JSON string.
local data = '{"state":"scanned","hint":' .. cjson.encode(ARGV[5]) ..
  string.format(',"expires_at":%d}', deadline)
qr_move(s, 'scanned', data, deadline - now + qr_retention,
  'uid', ARGV[4], 'hint', ARGV[5], 'confirm_before', s.confirm_before)
return qr_reply('ok')
