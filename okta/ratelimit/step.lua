-- step: observe one call's answer, then acquire the next call, in one
-- script (a flow's round trip between two calls: flow.go).
--
-- KEYS[1]  conn hash
-- KEYS[2]  in-flight zset
-- KEYS[3]  bucket hash of the answered call's counter
-- KEYS[4]  bucket hash of the next call's counter
-- ARGV[1..14]  observe.lua's ARGV
-- ARGV[15..]   acquire.lua's ARGV
--
-- Returns acquire's {code, n, key} followed by observe's.
local oa, aa = {}, {}
for i = 1, 14 do oa[i] = ARGV[i] end
for i = 15, #ARGV do aa[i - 14] = ARGV[i] end
local now = now_ms()
if oa[4] ~= '' then redis.call('ZREM', KEYS[2], oa[4]) end
local c = load_conn(KEYS[1])
local o, b = observe(KEYS[1], KEYS[3], oa, now, c, nil)
-- The acquire decides on the conn state and, when it is the same hash,
-- the bucket as observe left them, not read again.
if KEYS[4] ~= KEYS[3] then b = nil end
local r, seen = acquire(KEYS[1], KEYS[2], KEYS[4], aa, now, c, nil, b)
-- observe's calls in flight: the members the acquire found (nothing
-- changed the set since the release), else a ZCARD.
o[2] = seen or redis.call('ZCARD', KEYS[2])
return {r[1], r[2], r[3], o[1], o[2], o[3]}
