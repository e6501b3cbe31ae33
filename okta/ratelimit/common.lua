-- Shared by the limiter's scripts (scripts.go prepends it to each).
--
-- All times are Redis server milliseconds (TIME), so that workers whose own
-- clocks disagree still agree on the budget. Okta's clock enters only as the
-- offset th = Okta time - Redis time, learnt from Date headers.
--
-- Keys of one connection share the hash tag {connection}:
--   conn hash   th_lo, th_hi: bounds of the Okta clock offset (ms);
--               cblock: no call until (a concurrency 429 was seen);
--               l:<bucket>: last X-Rate-Limit-Limit of a bucket learnt by limit;
--               s:<bucket>: set when that bucket was found to have a counter of its own
--   in-flight   zset "<key>|<token>" -> lease expiry; one member per granted call
--   bucket hash limit, rem (lowest X-Rate-Limit-Remaining seen in the window),
--               reset (Okta's X-Rate-Limit-Reset, epoch s), win (window length, ms),
--               blocked (no call until, after a 429),
--               hidden (what the headers show left when Okta already
--               refuses: they show the org's figure, not our share)

-- Result codes of acquire and observe, the first element of their replies
-- {code, n, key}; scripts.go names the same values (codeOK, ...).
local COUNTER_MOVED = -1 -- the bucket draws on counter key: run again with it
local OK = 0             -- granted (acquire), recorded (observe)
local BUDGET = 1         -- the bucket's budget is spent or blocked: wait n ms
local CONCURRENCY = 2    -- a concurrency 429 blocks the connection (n ms)
local IN_FLIGHT_CAP = 3  -- the calls in flight fill this class's slots
local PROBING = 4        -- waiting for answers under way: n ms

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- resolve names the counter a bucket learnt by limit draws on: its own when
-- it was split off, else the one of every such bucket with the same limit.
local function resolve(ck, b)
  local v = redis.call('HMGET', ck, 's:' .. b, 'l:' .. b)
  if v[1] then return b end
  if v[2] then return 'limit-' .. v[2] end
  return b
end

local function count_prefix(members, prefix)
  local n = 0
  for _, m in ipairs(members) do
    if string.sub(m, 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

-- ceil(frac * limit) without float noise (0.1 * 60 is 6, not 7).
local function part(frac, limit)
  return math.ceil(frac * limit - 1e-9)
end

local function load_bucket(k)
  local v = redis.call('HMGET', k, 'limit', 'rem', 'reset', 'win', 'blocked', 'hidden')
  return {limit = tonumber(v[1]) or 0, rem = tonumber(v[2]) or 0, reset = tonumber(v[3]) or 0,
          win = tonumber(v[4]) or 0, blocked = tonumber(v[5]) or 0, hidden = tonumber(v[6]) or 0}
end

-- The latest Redis time the window can end: Okta's Reset is rounded up to
-- the second, and th_lo is the offset's lower bound.
local function reset_ms(b, th_lo)
  return b.reset * 1000 - th_lo
end

local function params(argv, i)
  return {reserve = tonumber(argv[i]), hc = tonumber(argv[i + 1]), hb = tonumber(argv[i + 2]),
          release = tonumber(argv[i + 3]), probe = tonumber(argv[i + 4])}
end

-- budget_wait is how long (ms) a call of class (0 bulk, 1 default,
-- 2 critical) must wait before the bucket can take it, with pending calls
-- of ours granted and not yet answered; 0 means now. The second result is
-- the reason: BUDGET, or PROBING when waiting for answers (a new window's
-- first, or of calls under way that may be counted twice); OK with 0.
--
-- A call may go when remaining - pending - 1 >= reserve + headroom(class):
-- the reserve is never spent; critical headroom is left by default and
-- bulk, bulk headroom by bulk. In the last `release` fraction of the window
-- the headroom shrinks linearly to 0, so budget that critical work did not
-- need is still used before the window ends.
local function budget_wait(b, pending, class, now, th_lo, p)
  if b.blocked > now then return b.blocked - now, BUDGET end
  local reset = reset_ms(b, th_lo)
  if b.limit <= 0 or reset <= now then
    -- Nothing known, or the window is over: one call at a time until an
    -- answer shows the new window.
    if pending > 0 then return p.probe, PROBING end
    return 0, OK
  end
  -- Under a principal share Okta may show the org's limit and remaining:
  -- the part it refused with still showing (hidden) is never ours.
  local L = math.max(1, b.limit - b.hidden)
  local rem = b.rem - b.hidden
  local R = math.min(part(p.reserve, L), L - 1)
  local H = 0
  if class < 2 then H = H + part(p.hc, L) end
  if class < 1 then H = H + part(p.hb, L) end
  H = math.max(0, math.min(H, L - 1 - R))
  local left = reset - now
  local rw = p.release * math.max(b.win, left)
  -- Release by the window's earliest end: Reset is rounded up to the second.
  left = left - 1000
  local function wait_for(avail)
    if avail < 0 then return reset - now end
    if avail >= H then return 0 end
    local need = rw * avail / H
    if left <= need then return 0 end
    return math.ceil(left - need)
  end
  local wait = wait_for(rem - pending - 1 - R)
  if wait > 0 and pending > 0 and wait_for(rem - 1 - R) == 0 then
    -- Only our calls under way stand in the way, and some of them may be
    -- counted in rem already: their answers will tell, within a call's time.
    return p.probe, PROBING
  end
  if wait > 0 then return wait, BUDGET end
  return 0, OK
end
