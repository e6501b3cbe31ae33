package redistest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMain lets the test binary run as a test process that starts the
// private server and then waits to be killed (for TestNoOrphanServer).
func TestMain(m *testing.M) {
	if os.Getenv("OKTAQ_REDISTEST_CHILD") != "" {
		r, _, err := Start()
		if err != nil || !r.Real {
			os.Exit(1)
		}
		os.Stdout.WriteString(r.Opt.Addr + "\n")
		select {}
	}
	Main(m)
}

// TestUsesAPrivateServer: without OKTAQ_TEST_REDIS_URL a test gets a real
// redis-server of its own process, not the one on 127.0.0.1:6379.
func TestUsesAPrivateServer(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed: miniredis is the fallback")
	}
	t.Setenv("OKTAQ_TEST_REDIS_URL", "")
	a, b := New(t), New(t)
	if !a.Real || a.Opt.Addr == "127.0.0.1:6379" || a.Opt.Addr != b.Opt.Addr || a.Opt.DB == b.Opt.DB {
		t.Fatalf("got %s DB %d and %s DB %d (real %v), want one private server, two DBs", a.Opt.Addr, a.Opt.DB, b.Opt.Addr, b.Opt.DB, a.Real)
	}
}

// TestNoOrphanServer kills a test process with SIGKILL, which runs no
// cleanup: its private redis-server must die with it.
func TestNoOrphanServer(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "OKTAQ_REDISTEST_CHILD=1", "OKTAQ_TEST_REDIS_URL=")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = child.Process.Kill()
		t.Fatalf("child printed no address: %v", err)
	}
	addr := strings.TrimSpace(line)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the child's server at %s does not answer: %v", addr, err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	// The kernel signals the server as its parent dies; wait for that
	// event (the limit only guards against a hang).
	for guard := time.Now().Add(2 * time.Minute); c.Ping(context.Background()).Err() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(guard) {
			t.Fatalf("redis-server at %s still answers after its test process was killed", addr)
		}
	}
}
