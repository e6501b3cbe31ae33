package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// databases is how many DB indexes a private server has: one per test
// running at once in this process (t.Parallel tests included).
const databases = 256

// startServer starts a private redis-server on a free port of 127.0.0.1,
// persisting nothing, and returns its address and a stop function. The
// server is this process's child and dies with it (see startChild), so a
// test binary killed by -timeout leaves no orphan.
func startServer() (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	// A free port can be taken between picking and binding: try a few.
	for attempt := 0; attempt < 5; attempt++ {
		addr, stop, err = startOn(bin)
		if err == nil {
			return addr, stop, nil
		}
	}
	return "", nil, err
}

func startOn(bin string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "oktaq-redistest-")
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
		"--databases", strconv.Itoa(databases), "--logfile", "")
	cmd.Stdout, cmd.Stderr = &out, &out
	exited := make(chan error, 1)
	if err := startChild(cmd, exited); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitReady(addr, exited); err != nil {
		stop()
		return "", nil, fmt.Errorf("redis-server on %s: %w\n%s", addr, err, out.String())
	}
	// It persists nothing, so its dir can go now: a test process killed
	// before its cleanup leaves no temp dir behind either.
	os.RemoveAll(dir)
	return addr, stop, nil
}

// waitReady pings addr until the server answers or exits. The overall
// limit only guards against a hang; the server is usually up at once.
func waitReady(addr string, exited <-chan error) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	guard := time.NewTimer(2 * time.Minute)
	defer guard.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-guard.C:
			return errors.New("no answer after 2 minutes")
		case <-tick.C:
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startChild starts cmd from a goroutine locked to its OS thread for the
// life of the child: Linux's parent-death signal (setPdeathsig) fires when
// the thread that forked exits, and a locked, blocked thread exits only
// with the process. The child's exit status goes to exited.
func startChild(cmd *exec.Cmd, exited chan<- error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the process
		setPdeathsig(cmd)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	return <-started
}
