package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// The containment experiment (--playbooks contain,offboard): the same
// org, limits and bulk load, but the critical work is playbook runs
// instead of single suspends, taking turns among the named playbooks. It
// measures, from the run's request to Okta answering, the suspend and
// the session clearing (contain's two steps, offboard's first two): how
// long containment takes while bulk work fills the queue and the budget.
//
// A run's coordinator and its steps use the product's queue names
// (critical, default, low), so the experiment runs one mode, on a Redis
// of its own: a private redis-server (never a shared one).

// playbookRedis starts the experiment's own Redis.
func playbookRedis() (url, where string, stop func(), err error) {
	r, cleanup, err := redistest.Start()
	if err != nil {
		return "", "", nil, err
	}
	where = "private redis-server"
	if !r.Real {
		where = "miniredis (redis-server is not installed)"
	}
	return r.URL, where, cleanup, nil
}

// enqueueRun enqueues a playbook run's coordinator for login, signed as
// the API would.
func (b *benchMode) enqueueRun(ctx context.Context, playbook, login string) (string, error) {
	pb := tasks.BuiltinPlaybooks()[playbook]
	now := time.Now().UTC()
	rr := tasks.RunRequest{Request: benchRequest(login, b.id), ID: tasks.RunIDPrefix + randomHex(16), Playbook: playbook, Steps: pb.Steps}
	rr.Version, rr.RequestedAt, rr.Deadline = tasks.PayloadVersion, now, now.Add(time.Hour)
	payload, err := json.Marshal(rr)
	if err != nil {
		return "", err
	}
	env := tasks.Envelope{TaskID: rr.ID, Queue: b.queues[0], Type: tasks.PlaybookRunType, Payload: payload}
	_, err = b.client.EnqueueContext(ctx, asynq.NewTaskWithHeaders(env.Type, payload, b.keyring.Sign(env)),
		asynq.Queue(b.queues[0]), asynq.TaskID(rr.ID), asynq.MaxRetry(1<<20), asynq.Retention(time.Hour))
	return rr.ID, err
}

// runsDone reports whether every run enqueued has ended.
func (b *benchMode) runsDone(ctx context.Context) bool {
	for _, id := range b.runs {
		raw, err := b.rdb.Get(ctx, tasks.RunKey(id)).Bytes()
		if err != nil {
			return false
		}
		var run tasks.Run
		if json.Unmarshal(raw, &run) != nil || !run.State.Final() {
			return false
		}
	}
	return true
}

func newRunsClient(redisURL string) (redis.UniversalClient, error) {
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, err
	}
	return opt.MakeRedisClient().(redis.UniversalClient), nil
}

// playbookStats: per playbook, from the run's request to Okta answering
// the suspend and the session clearing (2xx), from the simulator's log.
type playbookStats struct {
	playbook                 string
	runs, suspended, cleared int
	suspendP50, suspendP99   time.Duration
	clearP50, clearP99       time.Duration
}

func measurePlaybooks(sim *oktasim.Sim, names []string, critAt map[string]time.Time, critPlaybook map[string]string) []playbookStats {
	suspend, clear := map[string][]time.Duration{}, map[string][]time.Duration{}
	for _, r := range sim.Requests() {
		if r.Status < 200 || r.Status > 299 {
			continue
		}
		parts := strings.Split(r.Path, "/") // "", api, v1, users, ID, ...
		if len(parts) < 6 || parts[3] != "users" {
			continue
		}
		at, ok := critAt[parts[4]]
		if !ok {
			continue
		}
		pb := critPlaybook[parts[4]]
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/lifecycle/suspend"):
			suspend[pb] = append(suspend[pb], r.Time.Sub(at))
		case r.Method == http.MethodDelete && strings.HasSuffix(r.Path, "/sessions"):
			clear[pb] = append(clear[pb], r.Time.Sub(at))
		}
	}
	var out []playbookStats
	for _, name := range names {
		st := playbookStats{playbook: name}
		for _, p := range critPlaybook {
			if p == name {
				st.runs++
			}
		}
		s, c := suspend[name], clear[name]
		slices.Sort(s)
		slices.Sort(c)
		st.suspended, st.cleared = len(s), len(c)
		st.suspendP50, st.suspendP99 = percentile(s, 0.5), percentile(s, 0.99)
		st.clearP50, st.clearP99 = percentile(c, 0.5), percentile(c, 0.99)
		out = append(out, st)
	}
	return out
}

func printPlaybookStats(w io.Writer, results []benchResult) {
	for _, r := range results {
		if len(r.playbooks) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s, playbook runs at critical priority during the bulk load (from the run's request to Okta answering):\n", r.mode)
		for _, p := range r.playbooks {
			fmt.Fprintf(w, "  %-9s runs %2d  suspended p50 %s p99 %s (%d)  sessions cleared p50 %s p99 %s (%d)\n", p.playbook, p.runs,
				roundDelay(p.suspendP50), roundDelay(p.suspendP99), p.suspended, roundDelay(p.clearP50), roundDelay(p.clearP99), p.cleared)
		}
	}
}
