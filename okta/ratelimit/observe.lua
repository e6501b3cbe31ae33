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
local ck = KEYS[1]
local status, haslimit, limit = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7])
local ttl = tonumber(ARGV[14])
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
local inflight = redis.call('ZCARD', KEYS[2])
if ARGV[3] == '1' and haslimit and limit > 0 then
  redis.call('HSET', ck, 'l:' .. ARGV[1], limit)
  local k = resolve(ck, ARGV[1])
  if k ~= ARGV[2] then return {COUNTER_MOVED, inflight, k} end
end

-- Okta clock offset: the answer was made between send and receipt, at
-- Okta time Date (rounded down to the second).
local trecv = now - tonumber(ARGV[12])
local tsend = trecv - tonumber(ARGV[11])
local date = tonumber(ARGV[10])
local th = redis.call('HMGET', ck, 'th_lo', 'th_hi')
local lo, hi = tonumber(th[1]), tonumber(th[2])
if date > 0 then
  local olo, ohi = date * 1000 - trecv, date * 1000 + 1000 - tsend
  if lo == nil or math.max(lo, olo) > math.min(hi, ohi) then
    lo, hi = olo, ohi
  else
    lo, hi = math.max(lo, olo), math.min(hi, ohi)
  end
  redis.call('HSET', ck, 'th_lo', lo, 'th_hi', hi)
  redis.call('PEXPIRE', ck, ttl)
end
lo, hi = lo or 0, hi or 0
local minblock = tonumber(ARGV[13])

if status == 429 and haslimit and limit == 0 then
  -- Okta's concurrency limit: its Reset is only a guess.
  redis.call('HSET', ck, 'cblock', now + minblock)
  redis.call('PEXPIRE', ck, ttl)
  return {CONCURRENCY, inflight, ARGV[2]}
end
local r = tonumber(ARGV[9])
if not haslimit or r <= 0 then return {OK, inflight, ARGV[2]} end

local rem = tonumber(ARGV[8])
local b = load_bucket(KEYS[3])
if status == 429 and rem > 0 and limit > 0 then
  -- Refused with budget showing: the headers show the org's figure, not
  -- our share. What they show left at the refusal is never ours: learn it
  -- (the largest seen) and take it off every window from now on.
  redis.call('HSET', KEYS[3], 'hidden', math.max(b.hidden, math.min(rem, limit - 1)))
end
if status == 429 then rem = 0 end
-- A window is surely still running while now is before its earliest end.
local function running(reset) return now + 200 < (reset - 1) * 1000 - hi end
if b.reset > 0 and ARGV[3] == '1' and ARGV[2] ~= ARGV[1] and
    ((r > b.reset + 1 and running(b.reset)) or (r < b.reset - 1 and running(r))) then
  -- Two windows at once under one counter: this bucket has its own.
  redis.call('HSET', ck, 's:' .. ARGV[1], 1)
  return {COUNTER_MOVED, inflight, ARGV[1]}
end
local stale = false
if b.reset == 0 or r > b.reset + 1 then
  -- A new window: Okta starts one at the first call after the last ended.
  local win = math.max(b.win, math.floor(r * 1000 - lo - tsend))
  redis.call('HSET', KEYS[3], 'limit', limit, 'rem', rem, 'reset', r, 'win', win)
elseif r >= b.reset - 1 then
  redis.call('HSET', KEYS[3], 'limit', limit, 'rem', math.min(b.rem, rem), 'reset', math.max(b.reset, r))
else
  stale = true -- an answer from a window already over
end
if status == 429 and not stale then
  local untl = r * 1000 - lo
  if untl <= now then untl = now + minblock end
  redis.call('HSET', KEYS[3], 'blocked', math.max(b.blocked, untl))
end
redis.call('PEXPIRE', KEYS[3], ttl)
return {OK, inflight, ARGV[2]}
