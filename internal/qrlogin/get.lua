-- get: the session as it is now, expiring it first if its deadline has passed, so that what a
-- reader sees and what the topic announces always agree.
local s = qr_load()
if not s then
  return { 'notfound' }
end
qr_settle(s, qr_now())
return qr_reply('ok')
