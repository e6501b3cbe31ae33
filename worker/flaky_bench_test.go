package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// BenchmarkFlakyOkta measures the tail under a flaky Okta (issue 14 item
// 6): 300 mixed actions, 25% of API calls answered 5xx, 50-200 ms each,
// the default retry policy and breaker, 12 attempts. It reports the time
// until the last action is done and the most attempts one took. Not part
// of make test (it runs on the wall clock):
//
//	go test -run '^$' -bench BenchmarkFlakyOkta -benchtime 1x ./worker/
func BenchmarkFlakyOkta(b *testing.B) {
	const n = 300
	for range b.N {
		r := redistest.New(b)
		env := newBenchEnv(b, r, n)
		env.sim.SetFaults(oktasim.Faults{ErrorRate: 0.25, Latency: 50 * time.Millisecond, LatencyJitter: 150 * time.Millisecond,
			Match: "/api/v1/"})
		q := asynq.NewClient(r.Opt)
		var ids []string
		for j := range n {
			req := request(fmt.Sprintf("bench%05d@example.com", j))
			var a tasks.Args
			switch j % 3 {
			case 0:
				a = &tasks.Suspend{Request: req}
			case 1:
				a = &tasks.ResetPassword{Request: req}
			default:
				a = &tasks.ClearSessions{Request: req}
			}
			tasks.Normalize(a, time.Now())
			payload, _ := tasks.Marshal(a)
			id := fmt.Sprintf("flaky-%05d", j)
			envl := tasks.Envelope{TaskID: id, Queue: a.Action().Queue(false), Type: a.Action().TypeName(), Payload: payload}
			info, err := q.Enqueue(asynq.NewTaskWithHeaders(envl.Type, payload, env.keyring.Sign(envl)), asynq.TaskID(id),
				asynq.Queue(envl.Queue), asynq.MaxRetry(tasks.DefaultMaxAttempts-1), asynq.Retention(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, info.ID)
		}
		start := time.Now()
		stop := env.defaultServer(b)
		insp := asynq.NewInspector(r.Opt)
		maxAttempts, failed := 0, 0
		for _, id := range ids {
			for {
				info := taskInfo(insp, id)
				if info != nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
					maxAttempts = max(maxAttempts, info.Retried+1)
					if info.State == asynq.TaskStateArchived {
						failed++
					}
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		took := time.Since(start)
		stop()
		insp.Close()
		q.Close()
		b.ReportMetric(took.Seconds(), "s_to_last_done")
		b.ReportMetric(float64(maxAttempts), "max_attempts")
		b.ReportMetric(float64(failed), "failed")
		b.ReportMetric(0, "ns/op")
	}
}

func taskInfo(insp *asynq.Inspector, id string) *asynq.TaskInfo {
	for _, q := range []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} {
		if info, err := insp.GetTaskInfo(q, id); err == nil {
			return info
		}
	}
	return nil
}

// defaultServer is a worker as oktaq worker runs it: default queues,
// concurrency, limiter, retry policy and breaker.
func (e *benchEnv) defaultServer(b *testing.B) func() {
	limiter, err := ratelimit.New(e.r.Client, ratelimit.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	exec, err := okta.NewExecutor(e.conn, okta.ExecutorOptions{Redis: e.r.Client, Limiter: limiter})
	if err != nil {
		b.Fatal(err)
	}
	w, err := worker.New(worker.Options{Redis: e.r.Opt, Keyring: e.keyring, Producers: testProducers, PollInterval: 100 * time.Millisecond,
		Connections: map[string]*worker.Connection{"default": {Conn: e.conn, Exec: exec}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = w.Run(ctx); close(stopped) }()
	return func() { cancel(); <-stopped }
}
