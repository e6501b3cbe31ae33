// Package redistest gives each test an isolated Redis database: the Redis
// at OKTAQ_TEST_REDIS_URL (or redis://127.0.0.1:6379 when it answers),
// with a DB index 1..15 held by a lock key in DB 0 so that parallel tests
// and parallel test processes never share one; otherwise an in-process
// miniredis. The database is flushed before and after the test.
package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// DB is one isolated Redis database.
type DB struct {
	// Opt connects asynq to the database.
	Opt asynq.RedisClientOpt
	// Client is a go-redis client of the database.
	Client *redis.Client
	// Real is false when the database is a miniredis.
	Real bool
}

const lockPrefix = "oktaq:redistest:db:"

// New returns an isolated database for t, cleaned up when t ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	db, cleanup, err := Start(tb.Name())
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(cleanup)
	return db
}

// Start is New for code without a testing.TB (examples, TestMain): the
// caller runs cleanup when done. name shows who holds the database.
func Start(name string) (*DB, func(), error) {
	if base, ok := realRedis(); ok {
		if db, cleanup, err := lockDB(name, base); db != nil || err != nil {
			return db, cleanup, err
		}
	}
	m, err := miniredis.Run()
	if err != nil {
		return nil, nil, err
	}
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return &DB{Opt: asynq.RedisClientOpt{Addr: m.Addr()}, Client: rc}, func() { rc.Close(); m.Close() }, nil
}

// realRedis reports the Redis to use, if one answers.
func realRedis() (*redis.Options, bool) {
	raw := os.Getenv("OKTAQ_TEST_REDIS_URL")
	if raw == "" {
		raw = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, false
	}
	opt.DB = 0
	opt.DialTimeout = 500 * time.Millisecond
	rc := redis.NewClient(opt)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return opt, rc.Ping(ctx).Err() == nil
}

// lockDB takes the first free DB index, waiting a little when all are in
// use. The lock expires by itself if the test process dies.
func lockDB(name string, base *redis.Options) (*DB, func(), error) {
	ctx := context.Background()
	admin := redis.NewClient(base)
	owner := strconv.Itoa(os.Getpid()) + ":" + name
	start := (os.Getpid() % 15)
	for wait := 0; wait < 100; wait++ {
		for i := range 15 {
			n := (start+i)%15 + 1
			key := lockPrefix + strconv.Itoa(n)
			ok, err := admin.SetNX(ctx, key, owner, 10*time.Minute).Result()
			if err != nil || !ok {
				continue
			}
			opt := *base
			opt.DB = n
			opt.PoolSize = 64
			rc := redis.NewClient(&opt)
			cleanup := func() {
				rc.FlushDB(ctx)
				rc.Close()
				admin.Del(ctx, key)
				admin.Close()
			}
			if err := rc.FlushDB(ctx).Err(); err != nil {
				cleanup()
				return nil, nil, fmt.Errorf("flush db %d: %w", n, err)
			}
			return &DB{Client: rc, Real: true, Opt: asynq.RedisClientOpt{
				Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: n, PoolSize: 64,
			}}, cleanup, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	admin.Close()
	return nil, nil, nil
}

// URL is the redis:// URL of the database, for code that takes one.
func (d *DB) URL() string {
	u := url.URL{Scheme: "redis", Host: d.Opt.Addr, Path: fmt.Sprintf("/%d", d.Opt.DB)}
	if d.Opt.Password != "" {
		u.User = url.UserPassword(d.Opt.Username, d.Opt.Password)
	}
	return u.String()
}
