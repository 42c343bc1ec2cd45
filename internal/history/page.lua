-- Reads a page of a topic's history and where the topic stands, in one atomic step, so the
-- reader can tell "nothing happened" from "what happened is gone".
-- KEYS[1] stream, KEYS[2] meta; ARGV[1] first id to read ('-' for the oldest kept),
-- ARGV[2] page size.
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
local meta = redis.call('HMGET', KEYS[2], 'last', 'floor')
return {entries, meta[1] or '', meta[2] or '', redis.call('EXISTS', KEYS[1])}
