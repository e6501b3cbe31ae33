// Package redistest gives each test an isolated Redis: the server at
// OKTAQ_TEST_REDIS_URL (default redis://127.0.0.1:6379) when it answers,
// each test on a database index of its own, flushed before and after; an
// embedded miniredis otherwise, so `make test` passes on a machine without
// Redis. With OKTAQ_TEST_REQUIRE_REDIS=1 (as .ci/run sets) a missing server
// fails the test instead: CI must exercise the real one.
package redistest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// DBs 1..15 are handed out; DB 0 is left to people.
const firstDB, lastDB = 1, 15

var (
	mu      sync.Mutex
	inUse   = map[int]bool{}
	probed  bool
	realURL string
)

// Redis is one test's Redis.
type Redis struct {
	// Opt connects asynq to it; Client is a go-redis client on the same DB.
	Opt    asynq.RedisClientOpt
	Client *redis.Client
	// Mini is set when the test runs on miniredis.
	Mini *miniredis.Miniredis
	// URL is a redis:// URL for the same DB, for commands under test.
	URL string
}

// New returns an isolated Redis for t, cleaned up when t ends.
func New(t testing.TB) *Redis {
	t.Helper()
	if u := real(); u != "" {
		return onReal(t, u)
	}
	if os.Getenv("OKTAQ_TEST_REQUIRE_REDIS") == "1" {
		t.Fatal("redistest: OKTAQ_TEST_REQUIRE_REDIS=1 but no Redis answers at OKTAQ_TEST_REDIS_URL / 127.0.0.1:6379")
	}
	m := miniredis.RunT(t)
	m.ClockTTL(true)
	r := &Redis{Opt: asynq.RedisClientOpt{Addr: m.Addr()}, Mini: m, URL: "redis://" + m.Addr() + "/0"}
	r.Client = redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { r.Client.Close() })
	return r
}

func real() string {
	mu.Lock()
	defer mu.Unlock()
	if probed {
		return realURL
	}
	probed = true
	u := os.Getenv("OKTAQ_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return ""
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c.Ping(ctx).Err() == nil {
		realURL = u
	}
	return realURL
}

func onReal(t testing.TB, u string) *Redis {
	t.Helper()
	db := acquire(t)
	opt, _ := redis.ParseURL(u)
	opt.DB = db
	c := redis.NewClient(opt)
	ctx := context.Background()
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("redistest: flush db %d: %v", db, err)
	}
	t.Cleanup(func() {
		c.FlushDB(context.Background())
		c.Close()
		release(db)
	})
	return &Redis{
		Opt:    asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: db},
		Client: c,
		URL:    fmt.Sprintf("redis://%s/%d", opt.Addr, db),
	}
}

// acquire takes a free DB index. Test binaries of different packages run
// in parallel, so a DB is also claimed in Redis itself with a lease key in
// DB 0 that expires if a process dies.
func acquire(t testing.TB) int {
	opt, _ := redis.ParseURL(realURL)
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		mu.Lock()
		for db := firstDB; db <= lastDB; db++ {
			if inUse[db] {
				continue
			}
			ok, err := c.SetNX(context.Background(), leaseKey(db), os.Getpid(), 10*time.Minute).Result()
			if err == nil && ok {
				inUse[db] = true
				mu.Unlock()
				return db
			}
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redistest: no free Redis DB index in 2 minutes")
	return 0
}

func release(db int) {
	opt, _ := redis.ParseURL(realURL)
	c := redis.NewClient(opt)
	defer c.Close()
	c.Del(context.Background(), leaseKey(db))
	mu.Lock()
	delete(inUse, db)
	mu.Unlock()
}

func leaseKey(db int) string { return fmt.Sprintf("oktaq:test:db-lease:%d", db) }
