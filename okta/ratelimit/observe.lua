-- observe: release a call's slot and learn from Okta's answer.
--
-- KEYS[1]  conn hash
-- KEYS[2]  in-flight zset
-- KEYS[3]  bucket hash (of the counter ARGV[2])
-- ARGV[1]  bucket name
-- ARGV[2]  counter name the call was granted on
-- ARGV[3]  '1' when the bucket is learnt by limit
-- ARGV[4]  in-flight member to release ('' if released already)
-- ARGV[5]  HTTP status (0: no answer)
-- ARGV[6]  '1' when the answer had rate-limit headers
-- ARGV[7]  X-Rate-Limit-Limit
-- ARGV[8]  X-Rate-Limit-Remaining
-- ARGV[9]  X-Rate-Limit-Reset (epoch s, 0 none)
-- ARGV[10] Date (epoch s, 0 none)
-- ARGV[11] round trip ms
-- ARGV[12] ms since the answer arrived
-- ARGV[13] least block after a 429 without a usable reset (ms)
-- ARGV[14] ttl of the state keys (ms)
--
-- Returns {code, calls in flight, counter}: OK recorded; CONCURRENCY the
-- answer was a concurrency 429 and blocks the connection; COUNTER_MOVED
-- the answer belongs to counter: run again with it (member '').
local now = now_ms()
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
local inflight = redis.call('ZCARD', KEYS[2])
return (observe(KEYS[1], KEYS[3], ARGV, now, load_conn(KEYS[1]), inflight))
