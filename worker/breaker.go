package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// BreakerPolicy configures the connection breaker: when most attempts on
// a connection fail transiently (5xx, no answer), the connection backs
// off as a whole, not each task on its own. While it is open, every task
// of the connection is held (rescheduled without calling Okta or
// spending an attempt); when the hold ends, one task at a time probes.
// A probe that succeeds closes the breaker; one that fails opens it again
// for twice as long, up to MaxHold. Attempts are counted in Redis, over
// the last Window, by every worker together.
type BreakerPolicy struct {
	// MinAttempts in the window before the breaker may open, so a few
	// failures of a quiet connection do not stop it.
	MinAttempts int
	// FailRatio of the window's attempts that opens the breaker.
	FailRatio float64
	// Window is how far back attempts count, in Slots slices.
	Window time.Duration
	Slots  int
	// Hold is the first hold; it doubles with each failed probe, up to
	// MaxHold.
	Hold, MaxHold time.Duration
	// ProbeLease is how long a probe keeps others out if its worker never
	// reports (it died): at least an attempt's length.
	ProbeLease time.Duration
	// Recheck is the longest a task waits while another probes.
	Recheck time.Duration
}

// DefaultBreakerPolicy: 20 attempts in 30 s of which 75% failed open it
// for 5 s, then 10, 20... up to 5 minutes. An action's attempt makes 2
// calls or more: 75% of attempts failed means most calls did. (At 25%
// 5xx, 44% of attempts fail: that Okta is flaky, to be retried, not down,
// to be held.)
func DefaultBreakerPolicy() BreakerPolicy {
	return BreakerPolicy{MinAttempts: 20, FailRatio: 0.75, Window: 30 * time.Second, Slots: 6,
		Hold: 5 * time.Second, MaxHold: 5 * time.Minute, ProbeLease: time.Minute, Recheck: time.Second}
}

// breaker is the connection breaker's state in Redis, under the
// connection's hash tag: oktaq:{conn}:breaker (hold until, hold length,
// probe owner and lease end) and oktaq:{conn}:breaker:<slice> (attempts
// ok and failed in one slice of the window). Every key has an expiry.
// Times come from the worker's clock, not Redis's, so tests move them.
type breaker struct {
	rdb redis.UniversalClient
	p   BreakerPolicy
}

// admission is the breaker's answer to one attempt.
type admission struct {
	// Until: held until then; zero when the attempt may go.
	Until time.Time
	// Probe is set when the attempt goes as the probe; report it.
	Probe string
}

func stateKey(conn string) string { return "oktaq:{" + conn + "}:breaker" }

// admit decides whether an attempt on conn may call Okta now.
func (b *breaker) admit(ctx context.Context, conn string, now time.Time) (admission, error) {
	token := newToken()
	res, err := admitScript.Run(ctx, b.rdb, []string{stateKey(conn)}, now.UnixMilli(), token,
		b.p.ProbeLease.Milliseconds(), b.p.Recheck.Milliseconds()).Int64Slice()
	if err != nil {
		return admission{}, fmt.Errorf("connection breaker: %w", err)
	}
	switch res[0] {
	case 1:
		return admission{Probe: token}, nil
	case 2:
		return admission{Until: time.UnixMilli(res[1])}, nil
	}
	return admission{}, nil
}

// outcome of an attempt, for the breaker.
type outcome int

const (
	neutral outcome = iota // held, rate limited, rejected: says nothing of Okta's health
	succeeded
	failed
)

// report counts an attempt's outcome; probe is its admission's Probe. It
// returns when the connection is held until (zero when closed).
func (b *breaker) report(ctx context.Context, conn, probe string, o outcome, now time.Time) (time.Time, error) {
	keys, args := b.reportArgs(conn, probe, o, now)
	return reportAnswer(reportScript.Run(ctx, b.rdb, keys, args...).Int64Slice())
}

func (b *breaker) reportArgs(conn, probe string, o outcome, now time.Time) ([]string, []any) {
	slice := b.p.Window / time.Duration(b.p.Slots)
	cur := now.UnixMilli() / slice.Milliseconds()
	keys := []string{stateKey(conn)}
	for i := range b.p.Slots {
		keys = append(keys, stateKey(conn)+":"+strconv.FormatInt(cur-int64(i), 10))
	}
	return keys, []any{now.UnixMilli(), int(o), probe, b.p.MinAttempts,
		int(b.p.FailRatio * 1000), b.p.Hold.Milliseconds(), b.p.MaxHold.Milliseconds(), (b.p.Window + slice).Milliseconds()}
}

// queuedReport is a report sent in another round trip's pipeline (the
// result write's, record.go): an attempt that is not a probe needs the
// answer only for a log line.
type queuedReport struct {
	cmd  *redis.Cmd
	keys []string
	args []any
}

// queueReport adds report's script to pipe; answer reads it after Exec.
func (b *breaker) queueReport(ctx context.Context, pipe redis.Pipeliner, conn, probe string, o outcome, now time.Time) *queuedReport {
	keys, args := b.reportArgs(conn, probe, o, now)
	return &queuedReport{cmd: reportScript.EvalSha(ctx, pipe, keys, args...), keys: keys, args: args}
}

func (b *breaker) answer(ctx context.Context, q *queuedReport) (time.Time, error) {
	res, err := q.cmd.Int64Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		res, err = reportScript.Run(ctx, b.rdb, q.keys, q.args...).Int64Slice()
	}
	return reportAnswer(res, err)
}

func reportAnswer(res []int64, err error) (time.Time, error) {
	if err != nil {
		return time.Time{}, fmt.Errorf("connection breaker: %w", err)
	}
	if res[0] == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(res[1]), nil
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// admitScript: KEYS[1] state; ARGV now, token, probe lease, recheck (ms).
// Answers {0} go, {1} go as the probe, {2, until} held.
var admitScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local u = redis.call("HGET", KEYS[1], "until")
if not u then return {0, 0} end
u = tonumber(u)
if now < u then return {2, u} end
local pu = tonumber(redis.call("HGET", KEYS[1], "probe_until") or "0")
if now < pu then return {2, math.min(pu, now + tonumber(ARGV[4]))} end
redis.call("HSET", KEYS[1], "probe", ARGV[2], "probe_until", now + tonumber(ARGV[3]))
return {1, 0}`)

// reportScript: KEYS[1] state, KEYS[2] this slice, KEYS[3..] older
// slices; ARGV now, outcome (0 neutral, 1 ok, 2 failed), probe token,
// min attempts, fail ratio (per mille), hold, max hold, slice ttl (ms).
// Answers {0} closed or {1, until} held.
var reportScript = redis.NewScript(`
local now, o, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local st = KEYS[1]
local function open(hold)
  redis.call("HSET", st, "until", now + hold, "hold", hold, "probe", "", "probe_until", 0)
  redis.call("PEXPIRE", st, hold + 3600000)
  return {1, now + hold}
end
local isProbe = token ~= "" and redis.call("HGET", st, "probe") == token
if isProbe then
  if o == 0 then
    redis.call("HSET", st, "probe", "", "probe_until", 0)
    return {1, tonumber(redis.call("HGET", st, "until"))}
  elseif o == 2 then
    local hold = tonumber(redis.call("HGET", st, "hold") or ARGV[6]) * 2
    return open(math.min(hold, tonumber(ARGV[7])))
  end
  redis.call("DEL", unpack(KEYS))
  return {0, 0}
end
if o == 0 then return {0, 0} end
local u = redis.call("HGET", st, "until")
if u then return {1, tonumber(u)} end
redis.call("HINCRBY", KEYS[2], o == 2 and "fail" or "ok", 1)
redis.call("PEXPIRE", KEYS[2], ARGV[8])
-- A success only lowers the failure ratio: it cannot open the breaker,
-- so the window's slices are summed only after a failure.
if o == 1 then return {0, 0} end
local ok, fail = 0, 0
for i = 2, #KEYS do
  local v = redis.call("HMGET", KEYS[i], "ok", "fail")
  ok = ok + (tonumber(v[1]) or 0)
  fail = fail + (tonumber(v[2]) or 0)
end
if ok + fail >= tonumber(ARGV[4]) and fail * 1000 >= (ok + fail) * tonumber(ARGV[5]) then
  return open(tonumber(ARGV[6]))
end
return {0, 0}`)
