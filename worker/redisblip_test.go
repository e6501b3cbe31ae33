package worker_test

import (
	"context"
	"log/slog"
	"strings"
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

// Redis dies while a suspend is at Okta and comes back: the attempt is
// finished once Redis answers, so the task completes from that one
// attempt. Before, asynq could not record the end, the task stayed active
// until its recoverer ran it a second time (60-120 s later, and a second
// round of Okta calls). Counted: the attempts the worker ran and the
// calls Okta saw for the user.
func TestRedisBlipMidAttemptFinishesThatAttempt(t *testing.T) {
	k := redistest.NewKillable(t)
	sim := oktasim.New(oktasim.Options{})
	user := seedUser("blip@example.com", "ACTIVE")
	user.ID = "00ublip0000000000001"
	if err := sim.Load(oktasim.Seed{Users: []oktasim.SeedUser{user},
		Clients: []oktasim.SeedClient{{ClientID: clientID, ClientSecret: clientSecret, Scopes: allScopes}}}); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	t.Cleanup(srv.Close)
	// The suspend call takes a while: Redis is killed while it is at Okta.
	sim.SetFaults(oktasim.Faults{Latency: 700 * time.Millisecond, Match: "/lifecycle/"})

	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	policy, _ := tasks.ParseRoles("*=it-admin")
	conn := &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: allScopes, Roles: policy}, BaseURL: srv.URL,
		Credentials: okta.Credentials{ClientID: clientID, ClientSecret: clientSecret}}
	lim, err := ratelimit.New(k.Client, ratelimit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: k.Client, Logger: log, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := tasks.ParseKeyring(signingKey)
	w, err := worker.New(worker.Options{Redis: k.Opt, Keyring: kr, Producers: testProducers, Logger: log, Concurrency: 1,
		Connections:  map[string]*worker.Connection{"default": {Conn: conn, Exec: exec}},
		PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	client := asynq.NewClient(k.Opt)
	defer client.Close()
	a := &tasks.Suspend{Request: request(user.Login)}
	tasks.Normalize(a, time.Now())
	payload, _ := tasks.Marshal(a)
	env := tasks.Envelope{TaskID: "blip-1", Queue: tasks.QueueCritical, Type: a.Action().TypeName(), Payload: payload}
	info, err := client.Enqueue(asynq.NewTaskWithHeaders(env.Type, payload, kr.Sign(env)), asynq.TaskID(env.TaskID),
		asynq.Queue(env.Queue), asynq.MaxRetry(5), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	// The user was read and the suspend is the one call under way.
	until(t, "the suspend to be at Okta", func() bool {
		return userCalls(sim, user.ID, "GET")+userCalls(sim, user.Login, "GET") == 1 && sim.InFlight() == 1
	})
	k.Kill()
	// The worker got Okta's answer with Redis gone and tried to finish.
	until(t, "the attempt to end with Redis down", func() bool {
		s := logs.String()
		return strings.Contains(s, "Redis unreachable") || strings.Contains(s, "result not written")
	})
	k.Start()

	inspect := asynq.NewInspector(k.Opt)
	defer inspect.Close()
	var final *asynq.TaskInfo
	// At most 3 minutes (counted in polls): enough for asynq's recoverer,
	// so that the counts below, not a timeout, tell the two ways apart.
	for range 1800 {
		ti, err := inspect.GetTaskInfo(tasks.QueueCritical, info.ID)
		if err == nil && (ti.State == asynq.TaskStateCompleted || ti.State == asynq.TaskStateArchived) {
			final = ti
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if final == nil {
		t.Fatal("the task did not finish")
	}
	runs := strings.Count(logs.String(), "task_id="+info.ID+" ")
	if runs != 1 {
		t.Errorf("the worker ran %d attempts; want the one cut off by the outage to finish", runs)
	}
	if n := userCalls(sim, user.ID, "") + userCalls(sim, user.Login, ""); n != 2 {
		t.Errorf("Okta saw %d calls for the user; want 2 (read, suspend)", n)
	}
	if r := result(t, final); r.Outcome != tasks.OutcomeSucceeded {
		t.Errorf("outcome %s, want succeeded", r.Outcome)
	}
}

// userCalls counts the simulator's requests about a user (by id or
// login), of one method or all ("").
func userCalls(sim *oktasim.Sim, ref, method string) int {
	n := 0
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/v1/users/"+ref) && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}
