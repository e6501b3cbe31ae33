// Package redistest gives each test an isolated Redis, and never touches a
// Redis it did not start unless told to:
//
//   - OKTAQ_TEST_REDIS_URL set (CI sets it, to a server it started): that
//     server, each test on a database index of its own (1-15), flushed
//     before and after. Test binaries of several packages share it, so an
//     index is leased through Redis itself (lease.go).
//   - otherwise a private redis-server this process starts on a free port
//     of 127.0.0.1 (no persistence, a temp dir, killed with the process),
//     shared by the process's tests, each on a database index of its own.
//     A developer's own Redis on 127.0.0.1:6379 is never contacted.
//   - an embedded miniredis only when redis-server is not installed. With
//     OKTAQ_TEST_REQUIRE_REDIS=1 (as .ci/run sets) that is an error instead:
//     CI must exercise the real server.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// defaultAddr is where a developer's own Redis listens. redistest never
// uses it; it is a variable so a test can put a decoy there and prove it.
var defaultAddr = "127.0.0.1:6379"

// Redis is one test's Redis.
type Redis struct {
	// Opt connects asynq to it; Client is a go-redis client on the same DB.
	Opt    asynq.RedisClientOpt
	Client *redis.Client
	// URL is a redis:// URL of the same DB, for commands under test.
	URL string
	// Real is set on a real redis-server, Mini on miniredis.
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
	if u := os.Getenv("OKTAQ_TEST_REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, nil, fmt.Errorf("OKTAQ_TEST_REDIS_URL: %w", err)
		}
		opt.DB = 0
		return onShared(opt)
	}
	p, err := private()
	switch {
	case err == nil:
		return p.take()
	case !errors.Is(err, exec.ErrNotFound):
		return nil, nil, err
	case os.Getenv("OKTAQ_TEST_REQUIRE_REDIS") == "1":
		return nil, nil, fmt.Errorf("OKTAQ_TEST_REQUIRE_REDIS=1 but redis-server is not installed (%w) and OKTAQ_TEST_REDIS_URL is unset", err)
	}
	return onMini()
}

func onMini() (*Redis, func(), error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		return nil, nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	r := &Redis{Opt: asynq.RedisClientOpt{Addr: m.Addr()}, Client: c, Mini: m, URL: "redis://" + m.Addr() + "/0"}
	return r, func() { c.Close(); m.Close() }, nil
}

// server is this process's private redis-server, with its free DB indexes.
type server struct {
	addr string
	free chan int
}

var (
	privateOnce sync.Once
	privateSrv  *server
	privateErr  error
	stopPrivate = func() {}
)

// private starts the process's redis-server on first use.
func private() (*server, error) {
	privateOnce.Do(func() {
		addr, stop, err := startServer()
		if err != nil {
			privateErr = err
			return
		}
		s := &server{addr: addr, free: make(chan int, databases)}
		for db := 0; db < databases; db++ {
			s.free <- db
		}
		privateSrv, stopPrivate = s, stop
	})
	return privateSrv, privateErr
}

// Main runs a package's tests and then stops the private server, for a
// TestMain: `func TestMain(m *testing.M) { redistest.Main(m) }`. Without it
// the server still dies with the test process (a parent-death signal on
// Linux); Main is for other systems.
func Main(m *testing.M) {
	code := m.Run()
	stopPrivate()
	os.Exit(code)
}

// take hands out a DB index of its own, waiting while all are in use.
func (s *server) take() (*Redis, func(), error) {
	db := <-s.free
	r, cleanup, err := onDB(&redis.Options{Addr: s.addr}, db)
	if err != nil {
		s.free <- db
		return nil, nil, err
	}
	return r, func() { cleanup(); s.free <- db }, nil
}

// onDB connects to DB db of the server at base and flushes it.
func onDB(base *redis.Options, db int) (*Redis, func(), error) {
	opt := *base
	opt.DB = db
	opt.PoolSize = 64
	c := redis.NewClient(&opt)
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("flush db %d of %s: %w", db, opt.Addr, err)
	}
	r := &Redis{
		Opt:    asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: db, PoolSize: 64},
		Client: c, Real: true,
		URL: fmt.Sprintf("redis://%s/%d", opt.Addr, db),
	}
	cleanup := func() {
		c.FlushDB(context.Background())
		c.Close()
	}
	return r, cleanup, nil
}
