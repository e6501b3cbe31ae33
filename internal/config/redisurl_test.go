package config

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
)

func TestParseRedisURLOptions(t *testing.T) {
	good := []struct {
		url, password string
		want          asynq.RedisConnOpt
	}{
		{"redis://127.0.0.1:6379/3", "", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 3}},
		{"redis-sentinel://:spw@10.0.0.1:26379,10.0.0.2:26379/5?master=mymaster", "mpw",
			asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"},
				SentinelPassword: "spw", Password: "mpw", DB: 5}},
		{"redis-cluster://10.0.0.1:7000,10.0.0.2:7001", "",
			asynq.RedisClusterClientOpt{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001"}}},
		{"redis-cluster://app:pw@10.0.0.1:7000/0", "",
			asynq.RedisClusterClientOpt{Addrs: []string{"10.0.0.1:7000"}, Username: "app", Password: "pw"}},
	}
	for _, tc := range good {
		got, err := ParseRedisURL(tc.url, tc.password)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if !equalOpt(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.url, got, tc.want)
		}
	}
	tlsOpt, err := ParseRedisURL("rediss-cluster://redis.internal:7000,redis2.internal:7000", "")
	if c, ok := tlsOpt.(asynq.RedisClusterClientOpt); err != nil || !ok || c.TLSConfig == nil || c.TLSConfig.ServerName != "redis.internal" {
		t.Errorf("rediss-cluster: %#v %v; want TLS with the first host's name", tlsOpt, err)
	}
	bad := []struct{ url, want string }{
		{"redis-cluster://10.0.0.1:7000/2", "database 0 only"},
		{"redis-cluster://10.0.0.1", "no port"},
		{"redis-cluster://", "names no host"},
		{"redis-sentinel://10.0.0.1:26379/5", "master=NAME"},
		{"redis-sentinel://10.0.0.1:26379/x?master=m", `database "x"`},
		{"memcached://10.0.0.1:1", "redis-cluster"},
	}
	for _, tc := range bad {
		if _, err := ParseRedisURL(tc.url, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error with %q", tc.url, err, tc.want)
		}
	}
	if _, err := ParseRedisURL("redis-cluster://u:hunter2@h/9", ""); err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error repeats the password: %v", err)
	}
}

func equalOpt(a, b asynq.RedisConnOpt) bool {
	switch a := a.(type) {
	case asynq.RedisClientOpt:
		b, ok := b.(asynq.RedisClientOpt)
		return ok && a == b
	case asynq.RedisFailoverClientOpt:
		b, ok := b.(asynq.RedisFailoverClientOpt)
		return ok && a.MasterName == b.MasterName && strings.Join(a.SentinelAddrs, ",") == strings.Join(b.SentinelAddrs, ",") &&
			a.SentinelPassword == b.SentinelPassword && a.Password == b.Password && a.DB == b.DB
	case asynq.RedisClusterClientOpt:
		b, ok := b.(asynq.RedisClusterClientOpt)
		return ok && strings.Join(a.Addrs, ",") == strings.Join(b.Addrs, ",") && a.Username == b.Username &&
			a.Password == b.Password && (a.TLSConfig == nil) == (b.TLSConfig == nil)
	}
	return false
}

// A redis-sentinel:// URL with /5 writes to DB 5 of the master, through a
// real sentinel (it wrote to DB 0 before).
func TestSentinelURLKeepsItsDB(t *testing.T) {
	s := redistest.NewSentinel(t)
	u := strings.Replace(s.URL, "?", "/5?", 1)
	opt, err := ParseRedisURL(u, "")
	if err != nil {
		t.Fatal(err)
	}
	c := opt.MakeRedisClient().(redis.UniversalClient)
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "oktaq:test:sentinel-db", "here", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for db, want := range map[int]string{5: "here", 0: ""} {
		m := redis.NewClient(&redis.Options{Addr: s.MasterAddr, DB: db})
		got, _ := m.Get(ctx, "oktaq:test:sentinel-db").Result()
		m.Close()
		if got != want {
			t.Errorf("DB %d of the master holds %q, want %q", db, got, want)
		}
	}
}

// A redis-cluster:// URL reaches every node of a real cluster.
func TestClusterURLReachesTheCluster(t *testing.T) {
	cl := redistest.NewCluster(t)
	opt, err := ParseRedisURL(cl.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := opt.MakeRedisClient().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("redis-cluster:// builds %T, want a cluster client", opt.MakeRedisClient())
	}
	defer c.Close()
	ctx := context.Background()
	// Keys on every shard: one write per hash tag, each read back.
	for i := range 30 {
		k := "oktaq:test:{" + string(rune('a'+i%26)) + string(rune('0'+i/26)) + "}"
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var shards atomic.Int32 // ForEachMaster runs the shards at once
	_ = c.ForEachMaster(ctx, func(ctx context.Context, s *redis.Client) error {
		if n, _ := s.DBSize(ctx).Result(); n > 0 {
			shards.Add(1)
		}
		return nil
	})
	if cl.Started && shards.Load() < 2 {
		t.Errorf("keys landed on %d shards; want them spread over the cluster", shards.Load())
	}
}
