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
--               s:<bucket>: set when that bucket was found to have a counter of its own;
--               touched (see save)
--   in-flight   zset "<key>|<token>" -> lease expiry; one member per granted call
--   bucket hash limit, rem (lowest X-Rate-Limit-Remaining seen in the window),
--               reset (Okta's X-Rate-Limit-Reset, epoch s), win (window length, ms),
--               blocked (no call until, after a 429),
--               hidden (what the headers show left when Okta already
--               refuses: they show the org's figure, not our share),
--               touched (see save)
--
-- Each script reads TIME once, and each key at most once: a function
-- takes what its script read already (conn state, live members, bucket)
-- and keeps it up to date with what it writes. A redis.call costs about
-- half a microsecond of Lua on top of the command, and these scripts run
-- for every call to Okta.

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

-- load_conn reads the conn hash's fields the scripts decide by.
local function load_conn(ck)
  local v = redis.call('HMGET', ck, 'cblock', 'th_lo', 'th_hi', 'touched')
  return {cblock = tonumber(v[1]) or 0, th_lo = tonumber(v[2]), th_hi = tonumber(v[3]),
          touched = tonumber(v[4]) or 0}
end

-- set sets field f of state s to v and adds the write to w.
local function set(s, w, f, v)
  s[f] = v
  w[#w + 1] = f
  w[#w + 1] = v
end

-- save writes the fields w ({name, value, ...}, maybe none) to hash k,
-- whose state s (load_conn, load_bucket) the caller updated already, and
-- keeps k alive ttl ms past its last use: the TTL is set again, with
-- touched (Redis ms of that), once it is a 24th of ttl old, not at every
-- answer. While k is in use it so always has over 23/24 of ttl left (the
-- TTL is only ever set to ttl from now, and touched goes with the key).
local function save(k, s, w, now, ttl)
  if now - s.touched >= ttl / 24 then
    s.touched = now
    w[#w + 1] = 'touched'
    w[#w + 1] = now
    redis.call('HSET', k, unpack(w))
    redis.call('PEXPIRE', k, ttl)
  elseif #w > 0 then
    redis.call('HSET', k, unpack(w))
  end
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
  local v = redis.call('HMGET', k, 'limit', 'rem', 'reset', 'win', 'blocked', 'hidden', 'touched')
  return {limit = tonumber(v[1]) or 0, rem = tonumber(v[2]) or 0, reset = tonumber(v[3]) or 0,
          win = tonumber(v[4]) or 0, blocked = tonumber(v[5]) or 0, hidden = tonumber(v[6]) or 0,
          touched = tonumber(v[7]) or 0}
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

-- acquire (acquire.lua, step.lua, first.lua): a is acquire.lua's ARGV;
-- ck, ifk, bk its KEYS[1..3]. What its script read already is passed
-- on, else nil: c the conn state (load_conn); members the in-flight
-- members whose lease has not ended (ZRANGEBYSCORE '(now' '+inf'); b the
-- state of bk (load_bucket). Returns {code, n, key} and, when it read
-- the in-flight set itself, how many members it had before the purge
-- (the ZCARD step.lua's observe reports).
local function acquire(ck, ifk, bk, a, now, c, members, b)
  if a[3] == '1' then
    local k = resolve(ck, a[1])
    if k ~= a[2] then return {COUNTER_MOVED, 0, k} end
  end
  c = c or load_conn(ck)
  if c.cblock > now then return {CONCURRENCY, c.cblock - now, ''} end
  local ended = redis.call('ZREMRANGEBYSCORE', ifk, '-inf', now)
  local seen
  if not members then
    -- With those ended gone, every member is one whose lease runs.
    members = redis.call('ZRANGE', ifk, 0, -1)
    seen = #members + ended
  end
  local class = tonumber(a[5])
  local cap = tonumber(a[6])
  local p = params(a, 8)
  if #members >= cap then return {IN_FLIGHT_CAP, p.probe, ''}, seen end
  local pending = count_prefix(members, a[2] .. '|')
  local wait, why = budget_wait(b or load_bucket(bk), pending, class, now, c.th_lo or 0, p)
  if wait > 0 then return {why, wait, ''}, seen end
  local lease = tonumber(a[7])
  redis.call('ZADD', ifk, now + lease, a[4])
  redis.call('PEXPIRE', ifk, lease * 2)
  return {OK, #members + 1, ''}, seen
end

-- observe (observe.lua, step.lua): a is observe.lua's ARGV; ck, bk its
-- KEYS[1] and KEYS[3]; c the conn state (load_conn), which it updates
-- with what it writes; inflight the calls in flight once a's member is
-- released (the caller releases it; nil: the caller fills it in).
-- Returns {code, n, key} and the state
-- of bk as written (nil when it did not read bk).
local function observe(ck, bk, a, now, c, inflight)
  local status, haslimit, limit = tonumber(a[5]), a[6] == '1', tonumber(a[7])
  local ttl = tonumber(a[14])
  if a[3] == '1' and haslimit and limit > 0 then
    redis.call('HSET', ck, 'l:' .. a[1], limit)
    local k = resolve(ck, a[1])
    if k ~= a[2] then return {COUNTER_MOVED, inflight, k} end
  end

  -- Okta clock offset: the answer was made between send and receipt, at
  -- Okta time Date (rounded down to the second).
  local trecv = now - tonumber(a[12])
  local tsend = trecv - tonumber(a[11])
  local date = tonumber(a[10])
  local lo, hi = c.th_lo, c.th_hi
  local w = {}
  if date > 0 then
    local olo, ohi = date * 1000 - trecv, date * 1000 + 1000 - tsend
    if lo == nil or math.max(lo, olo) > math.min(hi, ohi) then
      lo, hi = olo, ohi
    else
      lo, hi = math.max(lo, olo), math.min(hi, ohi)
    end
    -- Once learnt, the bounds seldom move: written only when they do.
    if lo ~= c.th_lo or hi ~= c.th_hi then
      set(c, w, 'th_lo', lo)
      set(c, w, 'th_hi', hi)
    end
  end
  lo, hi = lo or 0, hi or 0
  local minblock = tonumber(a[13])

  -- Okta's concurrency limit: its Reset is only a guess.
  local concurrency = status == 429 and haslimit and limit == 0
  if concurrency then set(c, w, 'cblock', now + minblock) end
  if date > 0 or concurrency then save(ck, c, w, now, ttl) end
  if concurrency then return {CONCURRENCY, inflight, a[2]} end
  local r = tonumber(a[9])
  if not haslimit or r <= 0 then return {OK, inflight, a[2]} end

  local rem = tonumber(a[8])
  local b = load_bucket(bk)
  w = {}
  if status == 429 and rem > 0 and limit > 0 then
    -- Refused with budget showing: the headers show the org's figure, not
    -- our share. What they show left at the refusal is never ours: learn it
    -- (the largest seen) and take it off every window from now on.
    set(b, w, 'hidden', math.max(b.hidden, math.min(rem, limit - 1)))
  end
  if status == 429 then rem = 0 end
  -- A window is surely still running while now is before its earliest end.
  local function running(reset) return now + 200 < (reset - 1) * 1000 - hi end
  if b.reset > 0 and a[3] == '1' and a[2] ~= a[1] and
      ((r > b.reset + 1 and running(b.reset)) or (r < b.reset - 1 and running(r))) then
    -- Two windows at once under one counter: this bucket has its own.
    if #w > 0 then redis.call('HSET', bk, unpack(w)) end
    redis.call('HSET', ck, 's:' .. a[1], 1)
    return {COUNTER_MOVED, inflight, a[1]}, b
  end
  local stale = false
  if b.reset == 0 or r > b.reset + 1 then
    -- A new window: Okta starts one at the first call after the last ended.
    local win = math.max(b.win, math.floor(r * 1000 - lo - tsend))
    set(b, w, 'limit', limit)
    set(b, w, 'rem', rem)
    set(b, w, 'reset', r)
    set(b, w, 'win', win)
  elseif r >= b.reset - 1 then
    -- The same window: only what moved is written (limit and rem are
    -- there: they are written with every reset).
    if limit ~= b.limit then set(b, w, 'limit', limit) end
    if rem < b.rem then set(b, w, 'rem', rem) end
    if r > b.reset then set(b, w, 'reset', r) end
  else
    stale = true -- an answer from a window already over
  end
  if status == 429 and not stale then
    local untl = r * 1000 - lo
    if untl <= now then untl = now + minblock end
    set(b, w, 'blocked', math.max(b.blocked, untl))
  end
  save(bk, b, w, now, ttl)
  return {OK, inflight, a[2]}, b
end

-- peek (peek.lua, first.lua): bks are the bucket hashes asked about,
-- counters their counter names, in order. Returns {wait ms, bucket index}
-- and, for first.lua's acquire, the conn state, the live in-flight
-- members (those ended are not purged) and bks[1]'s state.
local function peek(ck, ifk, bks, counters, class, p, now)
  local c = load_conn(ck)
  local th_lo = c.th_lo or 0
  local members = redis.call('ZRANGEBYSCORE', ifk, '(' .. now, '+inf')
  local best, at, first = 0, 0, nil
  if c.cblock > now then best = c.cblock - now end
  for i = 1, #bks do
    local b = load_bucket(bks[i])
    if i == 1 then first = b end
    local pending = count_prefix(members, counters[i] .. '|')
    local wait, why = budget_wait(b, pending, class, now, th_lo, p)
    if why == BUDGET and wait > best then best, at = wait, i end
  end
  return {best, at}, c, members, first
end
