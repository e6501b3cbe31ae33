package ratelimit_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta/ratelimit"
)

// redisMonitor reads MONITOR on a connection of its own, which shows every
// command a script runs inside Redis ("[db lua]" lines) as well as the
// clients' own.
type redisMonitor struct {
	lines <-chan string
	lua   string // "[<db> lua]"
	n     int
}

func startMonitor(t *testing.T, opt *redis.Options) *redisMonitor {
	t.Helper()
	c, err := net.Dial("tcp", opt.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	send := func(args ...string) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := c.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	rd := bufio.NewReader(c)
	expectOK := func(what string) {
		line, err := rd.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("%s: %q %v", what, line, err)
		}
	}
	if opt.Password != "" {
		if opt.Username != "" {
			send("AUTH", opt.Username, opt.Password)
		} else {
			send("AUTH", opt.Password)
		}
		expectOK("AUTH")
	}
	// Monitoring once its +OK is read: the commands sent after show.
	send("MONITOR")
	expectOK("MONITOR")
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			lines <- line
		}
	}()
	return &redisMonitor{lines: lines, lua: fmt.Sprintf("[%d lua]", opt.DB)}
}

// calls returns the commands scripts ran in the monitored database since
// the last calls: it sends a marker on rdb and reads up to it.
func (m *redisMonitor) calls(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	m.n++
	marker := fmt.Sprintf("oktaq-test-marker-%d", m.n)
	if err := rdb.Echo(context.Background(), marker).Err(); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for line := range m.lines {
		if strings.Contains(line, `"`+marker+`"`) {
			return cmds
		}
		_, rest, ok := strings.Cut(line, m.lua+` "`)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, `"`)
		cmds = append(cmds, strings.ToUpper(name))
	}
	t.Fatal("MONITOR ended")
	return nil
}

// TestScriptsRedisCalls counts the Redis commands the limiter's scripts
// run inside Redis for an action of two calls in a flow, in the steady
// state (the clock offset learnt, the buckets known). Each costs about
// half a microsecond of Lua on top of its own work, and these scripts are
// a large part of Redis's time per action: a command one script already
// ran, or whose answer it already knows, is not run again.
func TestScriptsRedisCalls(t *testing.T) {
	r := redistest.New(t)
	if !r.Real {
		t.Skip("miniredis has no MONITOR")
	}
	rdb := r.Client
	o := ratelimit.DefaultConfig()
	o.Lease = time.Hour // no renewal runs a script during the test
	lim, err := ratelimit.New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const conn = "c"
	a, b := ratelimit.BucketUsersGetOne, ratelimit.BucketUsers
	reset := time.Now().Add(time.Minute)
	rem := 500
	// learn: an answer that bounds Okta's clock offset. known: one whose
	// Date and round trip tell nothing new about it (the offset learnt
	// from many answers, as a long-running worker has), so that the
	// counts below do not depend on when the seconds tick.
	learn := func() ratelimit.Observation {
		rem--
		return ratelimit.Observation{Status: 200, HasLimit: true, Limit: 600, Remaining: rem, Reset: reset,
			Date: time.Now(), RTT: time.Millisecond}
	}
	known := func() ratelimit.Observation {
		rem--
		return ratelimit.Observation{Status: 200, HasLimit: true, Limit: 600, Remaining: rem, Reset: reset,
			Date: time.Now().Add(-time.Hour), RTT: 2 * time.Hour}
	}
	// action: the gate and first call in bucket a (first.lua), a second
	// call in second (step.lua), the result write's flush (observe.lua);
	// it returns each one's commands when m is set.
	action := func(second string, answer func() ratelimit.Observation, m *redisMonitor) (first, step, observe []string) {
		t.Helper()
		f := ratelimit.NewFlow()
		fctx := ratelimit.WithFlow(ctx, f)
		pipe := rdb.Pipeline()
		gate, ok := lim.GateIn(ctx, pipe, rdb, f, conn, []string{a, b})
		if !ok {
			t.Fatal("GateIn refused the limiter's own Redis")
		}
		_, _ = pipe.Exec(ctx)
		if until, _, err := gate(); err != nil || !until.IsZero() {
			t.Fatalf("gate: %v %v", until, err)
		}
		if m != nil {
			first = m.calls(t, rdb)
		}
		for i, bucket := range []string{a, second} {
			done, err := lim.Acquire(fctx, ratelimit.Call{Connection: conn, Bucket: bucket, Continuation: i > 0})
			if err != nil {
				t.Fatal(err)
			}
			done(answer())
		}
		if m != nil {
			step = m.calls(t, rdb)
		}
		pipe = rdb.Pipeline()
		after := f.FlushIn(ctx, pipe, rdb)
		_, _ = pipe.Exec(ctx)
		after()
		if m != nil {
			observe = m.calls(t, rdb)
		}
		return first, step, observe
	}
	for range 2 { // the scripts loaded, both buckets known
		action(b, learn, nil)
	}
	m := startMonitor(t, rdb.Options())
	m.calls(t, rdb)

	for _, c := range []struct {
		name                 string
		second               string
		first, step, observe int
	}{
		// Before: 12, 16 and 9. first.lua: TIME; the conn hash, the live
		// members and each bucket read once; the purge of those whose
		// lease ended (ZREMRANGEBYSCORE), ZADD, PEXPIRE. step.lua: TIME,
		// ZREM; the conn hash and the answered bucket read once, the
		// bucket's HSET (its TTL and the clock offset unchanged: no
		// write); the purge and ZRANGE (which count the calls in flight
		// observe reports: no ZCARD); the next call's bucket read unless
		// it is the same; ZADD, PEXPIRE. observe.lua: TIME, ZREM, ZCARD,
		// the conn hash and the bucket read, its HSET.
		{name: "second call in another bucket", second: b, first: 8, step: 10, observe: 6},
		{name: "second call in the same bucket", second: a, first: 8, step: 9, observe: 6},
	} {
		first, step, observe := action(c.second, known, m)
		t.Logf("%s: first.lua %d %v; step.lua %d %v; observe.lua %d %v", c.name,
			len(first), first, len(step), step, len(observe), observe)
		for _, s := range []struct {
			script string
			cmds   []string
			most   int
		}{{"first.lua", first, c.first}, {"step.lua", step, c.step}, {"observe.lua", observe, c.observe}} {
			if len(s.cmds) > s.most {
				t.Errorf("%s, %s ran %d commands, want at most %d: %v", c.name, s.script, len(s.cmds), s.most, s.cmds)
			}
		}
		if n := inFlightOf(t, rdb, conn); n != 0 {
			t.Errorf("%s: %d calls in flight after the action, want 0", c.name, n)
		}
	}
}

// TestStateKeysKeptAlive: the conn and bucket hashes, which hold what the
// limiter learnt, are not given their TTL again at every answer (see
// common.lua's save), but still once it is an hour old: a key in use
// never comes near its end.
func TestStateKeysKeptAlive(t *testing.T) {
	r := redistest.New(t)
	lim, err := ratelimit.New(r.Client, ratelimit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsers}
	keys := []string{ratelimit.KeyPrefix + "{c}", ratelimit.KeyPrefix + "{c}:b:" + call.Bucket}
	answer := func(rem int) {
		t.Helper()
		done, err := lim.Acquire(ctx, call)
		if err != nil {
			t.Fatal(err)
		}
		done(okAnswer(rem))
	}
	const day, hour = 24 * time.Hour, time.Hour
	check := func(when string) {
		t.Helper()
		for _, k := range keys {
			if ttl := r.Client.PTTL(ctx, k).Val(); ttl < day-hour || ttl > day {
				t.Errorf("%s: %s expires in %v, want within an hour of %v", when, k, ttl, day)
			}
		}
	}
	answer(500)
	check("after the first answer")
	// As if an hour had passed since their TTL was set, with less left.
	for _, k := range keys {
		touched, err := r.Client.HGet(ctx, k, "touched").Int64()
		if err != nil {
			t.Fatalf("%s: touched: %v", k, err)
		}
		r.Client.HSet(ctx, k, "touched", touched-hour.Milliseconds())
		r.Client.PExpire(ctx, k, time.Minute)
	}
	answer(499)
	check("after an answer an hour later")
}

// BenchmarkScriptsRedisTime runs the limiter's scripts of an action of
// two calls in a flow (first.lua, step.lua, observe.lua), with other
// calls in flight as under a worker's concurrency, and reports the Redis
// time they took per action (INFO commandstats, no SLOWLOG).
func BenchmarkScriptsRedisTime(b *testing.B) {
	for _, c := range []struct {
		name   string
		second string
	}{{"other-bucket", ratelimit.BucketUsers}, {"same-bucket", ratelimit.BucketUsersGetOne}} {
		b.Run(c.name, func(b *testing.B) { benchScripts(b, c.second) })
	}
}

func benchScripts(b *testing.B, second string) {
	r := redistest.New(b)
	rdb := r.Client
	o := ratelimit.DefaultConfig()
	o.Lease = time.Hour
	lim, err := ratelimit.New(rdb, o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const conn = "c"
	first := ratelimit.BucketUsersGetOne
	reset := time.Now().Add(time.Hour)
	rem := 1 << 30
	answer := func() ratelimit.Observation {
		rem--
		return ratelimit.Observation{Status: 200, HasLimit: true, Limit: 1 << 30, Remaining: rem, Reset: reset,
			Date: time.Now(), RTT: time.Millisecond}
	}
	action := func() {
		f := ratelimit.NewFlow()
		fctx := ratelimit.WithFlow(ctx, f)
		pipe := rdb.Pipeline()
		gate, _ := lim.GateIn(ctx, pipe, rdb, f, conn, []string{first, ratelimit.BucketUsers})
		_, _ = pipe.Exec(ctx)
		if _, _, err := gate(); err != nil {
			b.Fatal(err)
		}
		for i, bucket := range []string{first, second} {
			done, err := lim.Acquire(fctx, ratelimit.Call{Connection: conn, Bucket: bucket, Continuation: i > 0})
			if err != nil {
				b.Fatal(err)
			}
			done(answer())
		}
		pipe = rdb.Pipeline()
		after := f.FlushIn(ctx, pipe, rdb)
		_, _ = pipe.Exec(ctx)
		after()
	}
	for range 100 {
		action()
	}
	// Calls of other actions in flight (a worker of concurrency 10), in
	// a bucket known to have budget.
	other := ratelimit.Call{Connection: conn, Bucket: ratelimit.BucketApps}
	for i := range 10 {
		done, err := lim.Acquire(ctx, other)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			done(answer())
		}
	}
	evalsha := func() (usec, calls float64) {
		info, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:")
			if !ok {
				continue
			}
			for _, kv := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(kv, "=")
				f, _ := strconv.ParseFloat(v, 64)
				switch k {
				case "usec":
					usec = f
				case "calls":
					calls = f
				}
			}
		}
		return usec, calls
	}
	u0, c0 := evalsha()
	b.ResetTimer()
	for range b.N {
		action()
	}
	b.StopTimer()
	u1, c1 := evalsha()
	b.ReportMetric((u1-u0)/float64(b.N), "redis_script_us/action")
	b.ReportMetric((c1-c0)/float64(b.N), "scripts/action")
}
