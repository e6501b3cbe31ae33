// Package redistest gives each test an isolated Redis: the server at
// OKTAQ_TEST_REDIS_URL (default redis://127.0.0.1:6379) when it answers,
// each test on a database index of its own (1-15), flushed before and
// after; an embedded miniredis otherwise, so `make test` passes on a
// machine without Redis. With OKTAQ_TEST_REQUIRE_REDIS=1 (as .ci/run sets)
// a missing server is an error instead: CI must exercise the real one.
//
// Test binaries of several packages run at once, so a database index is
// leased through Redis itself (a key in DB 0 holding the pid), and a lease
// whose process is gone is taken over.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	firstDB, lastDB = 1, 15 // DB 0 is left to people (and holds the leases)
	leaseTTL        = 15 * time.Minute
	waitForDB       = 2 * time.Minute
)

// Redis is one test's Redis.
type Redis struct {
	// Opt connects asynq to it; Client is a go-redis client on the same DB.
	Opt    asynq.RedisClientOpt
	Client *redis.Client
	// URL is a redis:// URL of the same DB, for commands under test.
	URL string
	// Real is set on the real server, Mini on miniredis.
	Real bool
	Mini *miniredis.Miniredis
}

// New returns an isolated Redis for tb, cleaned up when tb ends.
func New(tb testing.TB) *Redis {
	tb.Helper()
	r, cleanup, err := Start()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(cleanup)
	return r
}

// Start is New for code without a testing.TB (examples, TestMain); the
// caller runs cleanup.
func Start() (*Redis, func(), error) {
	if base := realServer(); base != nil {
		return onReal(base)
	}
	if os.Getenv("OKTAQ_TEST_REQUIRE_REDIS") == "1" {
		return nil, nil, errors.New("OKTAQ_TEST_REQUIRE_REDIS=1 but no Redis answers at OKTAQ_TEST_REDIS_URL / 127.0.0.1:6379")
	}
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		return nil, nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	r := &Redis{Opt: asynq.RedisClientOpt{Addr: m.Addr()}, Client: c, Mini: m, URL: "redis://" + m.Addr() + "/0"}
	return r, func() { c.Close(); m.Close() }, nil
}

var (
	probeOnce sync.Once
	base      *redis.Options
)

// realServer returns the options of the real server when it answers.
func realServer() *redis.Options {
	probeOnce.Do(func() {
		u := os.Getenv("OKTAQ_TEST_REDIS_URL")
		if u == "" {
			u = "redis://127.0.0.1:6379"
		}
		opt, err := redis.ParseURL(u)
		if err != nil {
			return
		}
		opt.DB = 0
		c := redis.NewClient(opt)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if c.Ping(ctx).Err() == nil {
			base = opt
		}
	})
	return base
}

func onReal(base *redis.Options) (*Redis, func(), error) {
	leases := redis.NewClient(base)
	db, err := acquire(leases)
	if err != nil {
		leases.Close()
		return nil, nil, err
	}
	opt := *base
	opt.DB = db
	opt.PoolSize = 64
	c := redis.NewClient(&opt)
	ctx := context.Background()
	if err := c.FlushDB(ctx).Err(); err != nil {
		c.Close()
		leases.Close()
		return nil, nil, fmt.Errorf("flush db %d: %w", db, err)
	}
	r := &Redis{
		Opt:    asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: db, PoolSize: 64},
		Client: c, Real: true,
		URL: fmt.Sprintf("redis://%s/%d", opt.Addr, db),
	}
	cleanup := func() {
		c.FlushDB(context.Background())
		c.Close()
		leases.Del(context.Background(), leaseKey(db))
		leases.Close()
	}
	return r, cleanup, nil
}

// acquire leases a free DB index, waiting while all are taken.
func acquire(c *redis.Client) (int, error) {
	ctx := context.Background()
	deadline := time.Now().Add(waitForDB)
	for time.Now().Before(deadline) {
		for db := firstDB; db <= lastDB; db++ {
			ok, err := c.SetNX(ctx, leaseKey(db), os.Getpid(), leaseTTL).Result()
			if err != nil {
				return 0, err
			}
			if ok || reclaim(c, db) {
				return db, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("no free Redis DB index (%d-%d) in %s", firstDB, lastDB, waitForDB)
}

// reclaim takes over a lease whose holder, a test process on this machine,
// is gone (killed by a timeout, say).
func reclaim(c *redis.Client, db int) bool {
	ctx := context.Background()
	pid, err := c.Get(ctx, leaseKey(db)).Int()
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil {
		return false
	}
	n, err := reclaimScript.Run(ctx, c, []string{leaseKey(db)}, pid, os.Getpid(), int(leaseTTL.Seconds())).Int()
	return err == nil && n == 1
}

// reclaimScript is a compare-and-set, so two reclaimers do not both win.
var reclaimScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[2], "EX", ARGV[3])
  return 1
end
return 0`)

func leaseKey(db int) string { return fmt.Sprintf("oktaq:test:db-lease:%d", db) }
