-- first: the worker's gate and its action's first call in one script: the
-- peek over the action's buckets (peek.lua) and, unless a bucket holds the
-- action longer than it would wait in place, the grant of the first
-- call's slot (acquire.lua), in the user lease's round trip (flow.go).
--
-- KEYS[1]    conn hash
-- KEYS[2]    in-flight zset
-- KEYS[3..]  bucket hash of each bucket of the action; KEYS[3] the first
--            call's
-- ARGV[1..]  peek.lua's ARGV (class, params, one counter a bucket)
-- then       the longest wait (ms) the call waits out in place, and
--            acquire.lua's ARGV (12 values) for the first call
--
-- Returns peek's {wait ms, bucket index} followed by acquire's {code, n,
-- key}, or by {-2, 0, ''} when the peek's wait is too long to grant.
local n = #KEYS - 2
local bks, counters = {}, {}
for i = 1, n do
  bks[i] = KEYS[i + 2]
  counters[i] = ARGV[i + 6]
end
local now = now_ms()
local pk, c, members, b = peek(KEYS[1], KEYS[2], bks, counters, tonumber(ARGV[1]), params(ARGV, 2), now)
if pk[1] > tonumber(ARGV[n + 7]) then return {pk[1], pk[2], -2, 0, ''} end
local aa = {}
for i = n + 8, #ARGV do aa[#aa + 1] = ARGV[i] end
-- Nothing was written since the peek: the acquire decides on what it
-- read (KEYS[3] is bks[1]), and only purges the members whose lease ended.
local r = acquire(KEYS[1], KEYS[2], KEYS[3], aa, now, c, members, b)
return {pk[1], pk[2], r[1], r[2], r[3]}
