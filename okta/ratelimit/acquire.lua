-- acquire: take an in-flight slot and one call of the bucket's budget, or
-- say how long to wait.
--
-- KEYS[1]  conn hash
-- KEYS[2]  in-flight zset
-- KEYS[3]  bucket hash (of the counter ARGV[2])
-- ARGV[1]  bucket name
-- ARGV[2]  counter name the caller believes the bucket draws on
-- ARGV[3]  '1' when the bucket is learnt by limit
-- ARGV[4]  in-flight member for this call, "<counter>|<token>"
-- ARGV[5]  class: 0 bulk, 1 default, 2 critical
-- ARGV[6]  slots: how many calls may be in flight once this one is
-- ARGV[7]  lease ms: how long the slot is held if no observe releases it
-- ARGV[8..12] params (common.lua's params)
--
-- Returns {code, n, key}: {OK, calls in flight}; {BUDGET | CONCURRENCY |
-- IN_FLIGHT_CAP | PROBING, ms to wait}; {COUNTER_MOVED, 0, counter}: ask
-- again with that counter.
local now = now_ms()
local ck = KEYS[1]
if ARGV[3] == '1' then
  local k = resolve(ck, ARGV[1])
  if k ~= ARGV[2] then return {COUNTER_MOVED, 0, k} end
end
local c = redis.call('HMGET', ck, 'cblock', 'th_lo')
local cblock, th_lo = tonumber(c[1]) or 0, tonumber(c[2]) or 0
if cblock > now then return {CONCURRENCY, cblock - now, ''} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local members = redis.call('ZRANGE', KEYS[2], 0, -1)
local class = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local p = params(ARGV, 8)
if #members >= cap then return {IN_FLIGHT_CAP, p.probe, ''} end
local pending = count_prefix(members, ARGV[2] .. '|')
local wait, why = budget_wait(load_bucket(KEYS[3]), pending, class, now, th_lo, p)
if wait > 0 then return {why, wait, ''} end
local lease = tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], now + lease, ARGV[4])
redis.call('PEXPIRE', KEYS[2], lease * 2)
return {OK, #members + 1, ''}
