-- KEYS[1] stream, KEYS[2] meta; ARGV: channel, maxlen, ttl_ms, event, data, publish_cmd.
return sse_append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6])
