-- acquire: take an in-flight slot and one call of the bucket's budget, or
-- say how long to wait.
-- KEYS[1] conn hash, KEYS[2] in-flight zset, KEYS[3] bucket hash
-- ARGV[1] bucket, ARGV[2] key (counter name), ARGV[3] '1' when the bucket is
-- learnt by limit, ARGV[4] member, ARGV[5] class, ARGV[6] slots this call
-- may fill, ARGV[7] unused, ARGV[8] lease ms, ARGV[9..13] params
-- Returns {code, n, key}: 0 granted (n calls in flight); 1 budget, 2
-- concurrency 429 seen, 3 in-flight cap, 4 probing: wait n ms; -1 the
-- counter is key: ask again with it.
local now = now_ms()
local ck = KEYS[1]
if ARGV[3] == '1' then
  local k = resolve(ck, ARGV[1])
  if k ~= ARGV[2] then return {-1, 0, k} end
end
local c = redis.call('HMGET', ck, 'cblock', 'th_lo')
local cblock, th_lo = tonumber(c[1]) or 0, tonumber(c[2]) or 0
if cblock > now then return {2, cblock - now, ''} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local members = redis.call('ZRANGE', KEYS[2], 0, -1)
local class = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local p = params(ARGV, 9)
if #members >= cap then return {3, p.probe, ''} end
local pending = count_prefix(members, ARGV[2] .. '|')
local wait, why = budget_wait(load_bucket(KEYS[3]), pending, class, now, th_lo, p)
if wait > 0 then return {why, wait, ''} end
local lease = tonumber(ARGV[8])
redis.call('ZADD', KEYS[2], now + lease, ARGV[4])
redis.call('PEXPIRE', KEYS[2], lease * 2)
return {0, #members + 1, ''}
