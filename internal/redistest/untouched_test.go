package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestLeavesTheDefaultRedisAlone puts a decoy Redis, holding keys in DBs
// 0-15, where a developer's own Redis would be (defaultAddr), and takes more
// test Redises than there are DB indexes: without OKTAQ_TEST_REDIS_URL,
// redistest must neither flush the decoy's keys nor connect to it at all.
func TestLeavesTheDefaultRedisAlone(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("OKTAQ_TEST_REQUIRE_REDIS") == "1" {
			t.Fatal("OKTAQ_TEST_REQUIRE_REDIS=1 but redis-server is not installed")
		}
		t.Skip("redis-server is not installed: no decoy to start")
	}
	t.Setenv("OKTAQ_TEST_REDIS_URL", "")
	decoy, stop, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := context.Background()
	for db := 0; db <= 15; db++ {
		c := redis.NewClient(&redis.Options{Addr: decoy, DB: db})
		if err := c.Set(ctx, "developer:data", fmt.Sprint("db", db), 0).Err(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	admin := redis.NewClient(&redis.Options{Addr: decoy})
	defer admin.Close()
	before := connectionsReceived(t, admin)

	was := defaultAddr
	defaultAddr = decoy
	defer func() { defaultAddr = was }()
	for i := 0; i < 20; i++ { // more than DBs 1-15, each flushed after its test
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if err := New(t).Client.Set(ctx, "test:key", i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}

	if got := connectionsReceived(t, admin) - before; got != 0 {
		t.Errorf("redistest opened %d connections to the Redis at defaultAddr, want none", got)
	}
	for db := 0; db <= 15; db++ {
		c := redis.NewClient(&redis.Options{Addr: decoy, DB: db})
		v, err := c.Get(ctx, "developer:data").Result()
		c.Close()
		if want := fmt.Sprint("db", db); err != nil || v != want {
			t.Errorf("DB %d: developer:data = %q, %v; want %q (a developer's data lost)", db, v, err, want)
		}
	}
}

// connectionsReceived is the server's count of connections ever accepted.
func connectionsReceived(t *testing.T, c *redis.Client) int {
	t.Helper()
	st, err := c.InfoMap(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(st["Stats"]["total_connections_received"], &n)
	return n
}
