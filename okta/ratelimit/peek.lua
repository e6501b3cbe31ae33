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
local now = now_ms()
local c = redis.call('HMGET', KEYS[1], 'cblock', 'th_lo')
local cblock, th_lo = tonumber(c[1]) or 0, tonumber(c[2]) or 0
local members = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
local class = tonumber(ARGV[1])
local p = params(ARGV, 2)
local best, at = 0, 0
if cblock > now then best = cblock - now end
for i = 3, #KEYS do
  local pending = count_prefix(members, ARGV[i + 4] .. '|')
  local wait, why = budget_wait(load_bucket(KEYS[i]), pending, class, now, th_lo, p)
  if why == BUDGET and wait > best then best, at = wait, i - 2 end
end
return {best, at}
