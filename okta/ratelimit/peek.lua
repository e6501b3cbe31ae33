-- peek: how long until a call of class could take each bucket, without
-- taking anything (the worker's gate, before an action's first call).
--
-- KEYS[1]    conn hash
-- KEYS[2]    in-flight zset
-- KEYS[3..]  bucket hash of each bucket asked about
-- ARGV[1]    class: 0 bulk, 1 default, 2 critical
-- ARGV[2..6] params (common.lua's params)
-- ARGV[7..]  counter name of each bucket hash, in the order of KEYS[3..]
--
-- Returns {wait ms, index of the bucket that waits longest (1-based), 0 none}.
-- Only BUDGET waits count: PROBING ones end within a call's time.
local bks, counters = {}, {}
for i = 3, #KEYS do
  bks[i - 2] = KEYS[i]
  counters[i - 2] = ARGV[i + 4]
end
return (peek(KEYS[1], KEYS[2], bks, counters, tonumber(ARGV[1]), params(ARGV, 2), now_ms()))
