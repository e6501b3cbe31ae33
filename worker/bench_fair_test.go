package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

// fairServer is the least a correct implementation does per action, with
// no oktaq code: bare asynq whose handler reads the user, makes the
// lifecycle call (skipped when the user is already there, as oktaq's
// executor does) and writes a result, with net/http and encoding/json and
// one access token fetched beforehand.
func (e *benchEnv) fairServer() func() {
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Concurrency: benchConcurrency, Queues: map[string]int{tasks.QueueDefault: 1},
		TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchConcurrency}}
	call := func(ctx context.Context, method, path string, out any) error {
		req, err := http.NewRequestWithContext(ctx, method, e.simURL+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
		}
		if out == nil {
			return nil
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	handle := func(op, want string) asynq.HandlerFunc {
		return func(ctx context.Context, t *asynq.Task) error {
			defer done.Add(1)
			var in struct {
				User string `json:"user"`
			}
			if err := json.Unmarshal(t.Payload(), &in); err != nil {
				return err
			}
			var u struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			}
			if err := call(ctx, "GET", "/api/v1/users/"+url.PathEscape(in.User), &u); err != nil {
				return err
			}
			outcome := "no_op"
			if u.Status != want {
				if err := call(ctx, "POST", "/api/v1/users/"+u.ID+"/lifecycle/"+op, nil); err != nil {
					return err
				}
				outcome = "succeeded"
			}
			res, _ := json.Marshal(map[string]string{"outcome": outcome, "user_id": u.ID, "finished_at": time.Now().Format(time.RFC3339Nano)})
			_, err := t.ResultWriter().Write(res)
			return err
		}
	}
	mux := asynq.NewServeMux()
	mux.Handle(tasks.ActionSuspend.TypeName(), handle("suspend", "SUSPENDED"))
	mux.Handle(tasks.ActionUnsuspend.TypeName(), handle("unsuspend", "ACTIVE"))
	if err := srv.Start(mux); err != nil {
		panic(err)
	}
	return srv.Shutdown
}

// drainCounted is drain with the Redis round trips of the processing
// counted: it returns the time, the round trips per task and the table by
// purpose.
func (e *benchEnv) drainCounted(b *testing.B, n int, enqueue func(*asynq.Client, int), start func() func()) (time.Duration, float64, string) {
	b.StopTimer()
	q := asynq.NewClient(e.r.Opt)
	defer q.Close()
	used := func() int64 {
		info, _ := e.r.Client.Info(context.Background(), "memory").Result()
		var m int64
		for _, l := range strings.Split(info, "\r\n") {
			if s, ok := strings.CutPrefix(l, "used_memory:"); ok {
				m, _ = strconv.ParseInt(s, 10, 64)
			}
		}
		return m
	}
	m0 := used()
	enqueue(q, n)
	queuedBytes.Store((used() - m0) / int64(n))
	done.Store(0)
	e.count.reset()
	cpu0, self0 := redistest.ServerCPU(b, e.r.Client), redistest.ProcessCPU()
	if os.Getenv("OKTAQ_BENCH_SLOWLOG") != "" {
		e.r.Client.ConfigSet(context.Background(), "slowlog-log-slower-than", "0")
		e.r.Client.ConfigSet(context.Background(), "slowlog-max-len", "200000")
		e.r.Client.SlowLogReset(context.Background())
	}
	e.r.Client.ConfigResetStat(context.Background())
	b.StartTimer()
	t0 := time.Now()
	stop := start()
	for done.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	d := time.Since(t0)
	b.StopTimer()
	stop()
	if os.Getenv("OKTAQ_BENCH_SLOWLOG") != "" {
		// Redis's time per script, by the script's first line.
		printScriptTimes(e.r.Client)
	}
	if os.Getenv("OKTAQ_BENCH_CMDSTATS") != "" {
		// Redis's own count of commands and their CPU, by command.
		st, _ := e.r.Client.Info(context.Background(), "commandstats").Result()
		fmt.Println(st)
	}
	selfCPUPerTask.Store(int64((redistest.ProcessCPU() - self0) * 1e6 / float64(n)))
	redisCPUPerTask.Store(int64((redistest.ServerCPU(b, e.r.Client) - cpu0) * 1e6 / float64(n)))
	table, total := e.count.table(n)
	if err := e.r.Client.FlushDB(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	return d, total, table
}

// queuedBytes is Redis memory per queued task of the last drainCounted.
var queuedBytes atomic.Int64

// redisCPUPerTask is the Redis server's CPU (user+sys, µs) per task of the
// last drainCounted: what the work costs the Redis every org shares.
var redisCPUPerTask atomic.Int64

// selfCPUPerTask is this process's CPU (user+sys, µs) per task of the last
// drainCounted: the worker, the simulator and the enqueue of the next
// round's tasks are not in it (they run before the timer).
var selfCPUPerTask atomic.Int64

// printScriptTimes prints Redis's mean time per EVALSHA by script (from
// SLOWLOG, every command logged), largest total first.
func printScriptTimes(c *redis.Client) {
	ctx := context.Background()
	logs, err := c.SlowLogGet(ctx, -1).Result()
	if err != nil {
		fmt.Println("slowlog:", err)
		return
	}
	type agg struct {
		n   int
		sum time.Duration
	}
	by := map[string]*agg{}
	for _, l := range logs {
		if len(l.Args) < 2 {
			continue
		}
		k := strings.ToLower(l.Args[0])
		if k == "evalsha" {
			k += " " + l.Args[1][:8]
			if len(l.Args) > 3 {
				// The key's prefix: one row per script, not per task.
				k += " " + strings.SplitN(l.Args[3], "{", 2)[0]
			}
		}
		if by[k] == nil {
			by[k] = &agg{}
		}
		by[k].n++
		by[k].sum += l.Duration
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return by[keys[i]].sum > by[keys[j]].sum })
	for _, k := range keys[:min(60, len(keys))] {
		fmt.Printf("%-70.70s n=%6d mean=%6.1fµs total=%v\n", k, by[k].n, float64(by[k].sum.Microseconds())/float64(by[k].n), by[k].sum)
	}
}
