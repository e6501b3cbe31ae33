package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster for tests: the one at
// OKTAQ_TEST_REDIS_CLUSTER_URL (redis-cluster://host:port,...) when set,
// used as it is and never flushed; else three redis-server processes with
// cluster-enabled on free loopback ports, started for this test and
// stopped after it.
type Cluster struct {
	// URL is a redis-cluster:// URL of it, Opt the asynq option, Client a
	// go-redis cluster client.
	URL    string
	Opt    asynq.RedisClusterClientOpt
	Client *redis.ClusterClient
	// Started is set when the test started the cluster itself.
	Started bool
}

// NewCluster returns a Redis Cluster for tb. Without
// OKTAQ_TEST_REDIS_CLUSTER_URL and without a redis-server binary the
// test is skipped, or fails under OKTAQ_TEST_REQUIRE_REDIS=1 (CI).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	var addrs []string
	started := false
	if u := os.Getenv("OKTAQ_TEST_REDIS_CLUSTER_URL"); u != "" {
		rest, ok := strings.CutPrefix(u, "redis-cluster://")
		if !ok {
			tb.Fatalf("redistest: OKTAQ_TEST_REDIS_CLUSTER_URL is not redis-cluster://host:port,...")
		}
		addrs = strings.Split(strings.Trim(rest, "/"), ",")
	} else {
		addrs = startCluster(tb)
		started = true
	}
	opt := asynq.RedisClusterClientOpt{Addrs: addrs}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	tb.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.ForEachShard(ctx, func(ctx context.Context, s *redis.Client) error { return s.Ping(ctx).Err() }); err != nil {
		tb.Fatalf("redistest: cluster at %v does not answer: %v", addrs, err)
	}
	return &Cluster{URL: "redis-cluster://" + strings.Join(addrs, ","), Opt: opt, Client: c, Started: started}
}

// startCluster starts three masters and joins them with redis-cli
// --cluster create; it returns their addresses once every slot is served.
func startCluster(tb testing.TB) []string {
	tb.Helper()
	needBinary(tb, "redis-server")
	needBinary(tb, "redis-cli")
	dir := tb.TempDir()
	var addrs []string
	for i := range 3 {
		port := testPort(tb, true)
		nodeDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			tb.Fatal(err)
		}
		startNode(tb, nodeDir, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no", "--dir", nodeDir)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for _, a := range addrs {
		waitPing(tb, &redis.Options{Addr: a})
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must see the whole cluster before a client is routed.
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		ok := false
		for range 400 {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				ok = true
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		c.Close()
		if !ok {
			tb.Fatalf("redistest: cluster node %s did not reach cluster_state:ok", a)
		}
	}
	return addrs
}

// Sentinel is one Redis master watched by one sentinel, both started for
// the test.
type Sentinel struct {
	// URL is redis-sentinel://host:port?master=NAME (no DB: add one).
	URL string
	// MasterAddr is the master's host:port, to check where data went.
	MasterAddr string
}

// NewSentinel starts a redis-server and a sentinel (redis-server
// --sentinel) that monitors it as master "oktaq-test".
func NewSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	needBinary(tb, "redis-server")
	dir := tb.TempDir()
	mport := testPort(tb, false)
	startNode(tb, dir, "--port", strconv.Itoa(mport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	master := fmt.Sprintf("127.0.0.1:%d", mport)
	waitPing(tb, &redis.Options{Addr: master})
	sport := testPort(tb, false)
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor oktaq-test 127.0.0.1 %d 1\n", sport, dir, mport)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	startNode(tb, dir, conf, "--sentinel")
	sc := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", sport)})
	defer sc.Close()
	for i := 0; ; i++ {
		addr, err := sc.GetMasterAddrByName(context.Background(), "oktaq-test").Result()
		if err == nil && len(addr) == 2 && addr[1] == strconv.Itoa(mport) {
			break
		}
		if i == 400 {
			tb.Fatalf("redistest: sentinel does not name the master: %v %v", addr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return &Sentinel{URL: fmt.Sprintf("redis-sentinel://127.0.0.1:%d?master=oktaq-test", sport), MasterAddr: master}
}

func needBinary(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("OKTAQ_TEST_REQUIRE_REDIS") == "1" {
			tb.Fatalf("redistest: %s is not installed and OKTAQ_TEST_REQUIRE_REDIS=1", name)
		}
		tb.Skipf("redistest: %s is not installed (CI installs it and sets OKTAQ_TEST_REQUIRE_REDIS=1)", name)
	}
}

// startNode runs redis-server with args, logging to dir, until tb ends.
func startNode(tb testing.TB, dir string, args ...string) {
	tb.Helper()
	log, err := os.Create(filepath.Join(dir, fmt.Sprintf("redis-%d.log", rand.IntN(1<<30))))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("redistest: start redis-server: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
	})
}

func waitPing(tb testing.TB, opt *redis.Options) {
	tb.Helper()
	c := redis.NewClient(opt)
	defer c.Close()
	for range 400 {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	tb.Fatalf("redistest: redis-server at %s did not answer", opt.Addr)
}

// testPort finds a free loopback port; with bus, its cluster bus port
// (port + 10000) is free too.
func testPort(tb testing.TB, bus bool) int {
	tb.Helper()
	for range 200 {
		port := 20000 + rand.IntN(30000)
		if portFree(port) && (!bus || portFree(port+10000)) {
			return port
		}
	}
	tb.Fatal("redistest: no free port")
	return 0
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
