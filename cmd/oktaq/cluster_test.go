package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/apitest"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// The whole path on a real 3-node Redis Cluster, reached through a
// redis-cluster:// URL as OKTAQ_REDIS_URL gives it: the HTTP API enqueues,
// a worker runs the actions through the shared limiter and the token
// cache, a lost answer goes through the journal, and results are read
// back through the API. Every script's keys share a hash tag, or Redis
// answers CROSSSLOT.
func TestWholePathOnRedisCluster(t *testing.T) {
	cl := redistest.NewCluster(t)
	opt, err := config.ParseRedisURL(cl.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { rdb.Close() })

	sim := oktasim.New(oktasim.Options{})
	if err := sim.Load(oktasim.DemoSeed()); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	t.Cleanup(srv.Close)
	// The first reset_password answer is lost after Okta applied it.
	sim.SetFaults(oktasim.Faults{DropAfter: 1, DropAfterMatch: "/lifecycle/reset_password", MaxDrops: 1})
	// A connection name of its own: a shared cluster (OKTAQ_TEST_REDIS_CLUSTER_URL) is never flushed.
	name := fmt.Sprintf("c%d", time.Now().UnixNano()%1e9)
	policy, _ := tasks.ParseRoles("*=it-admin")
	conn := &okta.Connection{Policy: tasks.Policy{Name: name, Scopes: oktasim.ManageScopes, Roles: policy}, BaseURL: srv.URL,
		Credentials: okta.Credentials{ClientID: oktasim.DemoClientID, ClientSecret: oktasim.DemoClientSecret}}
	keyring, _ := tasks.ParseKeyring("k1=cluster-test-signing-key-0123456789")
	log := slog.New(slog.DiscardHandler)

	lim, err := ratelimit.New(rdb, ratelimit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Logger: log, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	producers := tasks.Producers{Roles: map[string][]string{"cluster-test": {"it-admin"}}}
	w, err := worker.New(worker.Options{Redis: opt, Keyring: keyring, Producers: producers, Logger: log,
		Connections:  map[string]*worker.Connection{name: {Conn: conn, Exec: exec}},
		PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	const token = "cluster-test-token"
	client := enqueue.New(opt, enqueue.Options{Keyring: keyring, Producers: producers, Connections: map[string]*tasks.Policy{name: &conn.Policy}})
	t.Cleanup(func() { client.Close() })
	api := httptest.NewServer(enqueue.NewAPI(client, []enqueue.Producer{enqueue.NewProducer("cluster-test", token)}, enqueue.APIOptions{Logger: log}))
	t.Cleanup(api.Close)

	actions := map[string]string{"alice@example.com": "user.suspend", "bob@example.com": "user.reset_password",
		"niaj@example.com": "user.clear_sessions"}
	ids := map[string]string{}
	for user, action := range actions {
		ids[user] = postAction(t, api.URL, token, name, action, user)
	}
	for user, id := range ids {
		apitest.WaitFor(t, actions[user]+" of "+user+" to complete", func() bool { return apitest.ActionState(t, api.URL, token, id) == "completed" })
	}
	if u, _ := sim.User("alice@example.com"); u.Status != "SUSPENDED" {
		t.Errorf("alice is %s, want SUSPENDED", u.Status)
	}
	if sim.Drops() != 1 {
		t.Errorf("%d answers were dropped, want 1: the journal path was not taken", sim.Drops())
	}
	emails := 0
	for _, e := range sim.Emails() {
		if e.Kind == "reset_password" {
			emails++
		}
	}
	if emails != 1 {
		t.Errorf("bob got %d reset emails, want 1", emails)
	}
	// The limiter and the token cache kept their state in the cluster.
	var mu sync.Mutex
	var keys []string
	_ = rdb.(*redis.ClusterClient).ForEachMaster(context.Background(), func(ctx context.Context, s *redis.Client) error {
		ks, err := s.Keys(ctx, "oktaq:*").Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	})
	all := strings.Join(keys, " ")
	for _, want := range []string{ratelimit.KeyPrefix + "{" + name + "}", "oktaq:token:" + name} {
		if !strings.Contains(all, want) {
			t.Errorf("no key %s* in the cluster; keys: %s", want, all)
		}
	}
}

func postAction(t *testing.T, api, token, conn, action, user string) string {
	t.Helper()
	body := fmt.Sprintf(`{"action":%q,"connection":%q,"user":%q,"requester":{"id":"agent-42","role":"it-admin"},"ticket":{"system":"cluster-test","id":"REQ-%s"}}`,
		action, conn, user, user)
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/actions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var out struct{ ID string }
	if status := apitest.DoJSON(t, req, &out); status != http.StatusAccepted || out.ID == "" {
		t.Fatalf("POST /v1/actions %s for %s: status %d, id %q", action, user, status, out.ID)
	}
	return out.ID
}
