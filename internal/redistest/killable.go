package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Killable is a redis-server of the test's own that the test may kill -9
// and start again on the same port, its data kept (AOF, fsync always):
// for tests of what a Redis outage does.
type Killable struct {
	Addr string
	Opt  asynq.RedisClientOpt
	// Client is a go-redis client on it; it reconnects after a restart.
	Client *redis.Client
	tb     testing.TB
	dir    string
	port   int
	cmd    *exec.Cmd
}

// NewKillable starts one; it is stopped when tb ends. Without a
// redis-server binary the test is skipped (fails under
// OKTAQ_TEST_REQUIRE_REDIS=1).
func NewKillable(tb testing.TB) *Killable {
	tb.Helper()
	needBinary(tb, "redis-server")
	k := &Killable{tb: tb, dir: tb.TempDir(), port: testPort(tb, false)}
	k.Addr = "127.0.0.1:" + strconv.Itoa(k.port)
	k.Opt = asynq.RedisClientOpt{Addr: k.Addr}
	k.Start()
	k.Client = redis.NewClient(&redis.Options{Addr: k.Addr})
	tb.Cleanup(func() {
		k.Client.Close()
		k.Kill()
	})
	return k
}

// Start starts the server (again) and waits until it answers.
func (k *Killable) Start() {
	k.tb.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(k.port), "--bind", "127.0.0.1", "--dir", k.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := cmd.Start(); err != nil {
		k.tb.Fatalf("redistest: start redis-server: %v", err)
	}
	k.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: k.Addr, MaxRetries: -1})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i == 400 {
			k.tb.Fatalf("redistest: redis-server at %s did not answer", k.Addr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Kill kills the server with SIGKILL and waits until it is gone.
func (k *Killable) Kill() {
	if k.cmd == nil {
		return
	}
	_ = k.cmd.Process.Signal(syscall.SIGKILL)
	_ = k.cmd.Wait()
	k.cmd = nil
}

// URL is a redis:// URL of the server.
func (k *Killable) URL() string { return fmt.Sprintf("redis://%s/0", k.Addr) }
