package enqueue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// The whole loop of a producer, with only public packages: build the
// client from the workers' OKTAQ_* variables, enqueue, wait for the
// worker, read the result, open a sealed temporary password with the
// producer's own key, and handle a refusal. A worker and the Okta
// simulator run in-process so that the example runs anywhere; in
// production they are `oktaq worker` and your Okta org.
func Example_producerLoop() {
	redisURL, done := exampleRedisURL()
	defer done()
	stopWorker := startExampleWorker(redisURL)
	defer stopWorker()

	// The producer shares these with the workers (a deployment sets them).
	for k, v := range map[string]string{
		"OKTAQ_REDIS_URL":    redisURL,
		"OKTAQ_SIGNING_KEYS": "k1=a-secret-of-16-bytes-or-more",
		"OKTAQ_ROLES":        "*=it-admin;user.unlock=helpdesk|it-admin",
		"OKTAQ_OKTA_SCOPES":  "okta.users.read,okta.users.manage",
		// The requester roles this producer may assert.
		"OKTAQ_PRODUCER_ROLES": "helpdesk=it-admin|helpdesk",
	} {
		os.Setenv(k, v)
	}
	c, err := enqueue.NewFromEnv("helpdesk")
	if err != nil {
		fmt.Println("configuration:", err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	agent := tasks.Requester{ID: "agent-42", Role: "it-admin"}

	// Unlock a locked-out user and wait for the outcome.
	info, err := c.Enqueue(ctx, &tasks.Unlock{Request: tasks.Request{User: "erin@example.com", Requester: agent,
		Ticket: tasks.Ticket{System: "helpdesk", ID: "REQ-1"}, IdempotencyKey: "REQ-1-unlock"}})
	if err != nil {
		fmt.Println("enqueue:", err)
		return
	}
	if info, err = c.Wait(ctx, info.ID); err != nil {
		fmt.Println("wait:", err)
		return
	}
	r := info.Result
	fmt.Println(info.State, r.Outcome, r.Okta.StatusBefore, "->", r.Okta.StatusAfter)

	// Expire a password with a temporary one, sealed to our key: only the
	// holder of the private key can read it.
	public, private, err := tasks.GenerateResultKey()
	if err != nil {
		fmt.Println("key:", err)
		return
	}
	info, err = c.Enqueue(ctx, &tasks.ExpirePassword{
		Request: tasks.Request{User: "alice@example.com", Requester: agent, ResultKey: public},
		Options: tasks.ExpirePasswordOptions{TempPassword: true}})
	if err == nil {
		info, err = c.Wait(ctx, info.ID)
	}
	if err != nil {
		fmt.Println("expire password:", err)
		return
	}
	secret, err := tasks.Open(info.Result.Sealed, public, private)
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	fmt.Println(info.Result.Outcome, secret.Kind, secret.Value != "")

	// Refusals come before anything is enqueued: a role the policy does
	// not allow, and a scope the connection does not have.
	_, err = c.Enqueue(ctx, &tasks.Suspend{Request: tasks.Request{User: "bob@example.com",
		Requester: tasks.Requester{ID: "agent-7", Role: "helpdesk"}}})
	var refused *tasks.NotAllowedError
	fmt.Println(errors.As(err, &refused), refused.Role, err)
	_, err = c.Enqueue(ctx, &tasks.UpdateGroups{Request: tasks.Request{User: "bob@example.com", Requester: agent},
		Groups: tasks.GroupChanges{Add: []string{"Sales"}}})
	fmt.Println(errors.As(err, &refused), refused.Scope)
	// Output:
	// completed succeeded LOCKED_OUT -> ACTIVE
	// succeeded temp_password true
	// true helpdesk role "helpdesk" may not trigger user.suspend on connection "default"
	// true okta.groups.manage
}

// startExampleWorker runs a worker against the Okta simulator's demo org,
// with every scope, as `oktaq worker` would against an org.
func startExampleWorker(redisURL string) (stop func()) {
	sim := oktasim.New(oktasim.Options{})
	if err := sim.Load(oktasim.DemoSeed()); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(sim.Handler())
	sim.SetBaseURL(srv.URL)
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		panic(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	keyring, _ := tasks.ParseKeyring("k1=a-secret-of-16-bytes-or-more")
	policy, _ := tasks.ParseRoles("*=it-admin;user.unlock=helpdesk|it-admin")
	conn := &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: oktasim.ManageScopes, Roles: policy}, BaseURL: srv.URL,
		Credentials: okta.Credentials{ClientID: oktasim.DemoClientID, ClientSecret: oktasim.DemoClientSecret}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lim, err := ratelimit.New(rdb, ratelimit.DefaultConfig())
	if err != nil {
		panic(err)
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Logger: quiet, Limiter: lim})
	if err != nil {
		panic(err)
	}
	producerRoles, _ := tasks.ParseProducerRules("helpdesk=it-admin|helpdesk")
	w, err := worker.New(worker.Options{Redis: opt, Keyring: keyring, Logger: quiet, PollInterval: 50 * time.Millisecond,
		Producers:   tasks.Producers{Roles: producerRoles},
		Connections: map[string]*worker.Connection{"default": {Conn: conn, Exec: exec}}})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = w.Run(ctx); close(stopped) }()
	return func() { cancel(); <-stopped; exec.Close(); rdb.Close(); srv.Close() }
}
