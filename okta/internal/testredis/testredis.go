// Package testredis gives each test a Redis: the server at
// OKTAQ_TEST_REDIS_URL (default redis://127.0.0.1:6379) when one answers,
// else an in-process miniredis. Tests share the server, so each test
// gets a unique key namespace (Prefix) and Cleanup deletes its keys.
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// New returns a client and a name unique to this test, to put in every key
// the test writes (oktaq keys embed the connection name: use it as that).
// Keys containing the name are deleted when the test ends.
func New(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t" + hex.EncodeToString(b)
	url := os.Getenv("OKTAQ_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	if opts, err := redis.ParseURL(url); err == nil {
		opts.DialTimeout = 300 * time.Millisecond
		c := redis.NewClient(opts)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if c.Ping(ctx).Err() == nil {
			t.Cleanup(func() {
				ctx := context.Background()
				iter := c.Scan(ctx, 0, "*"+name+"*", 100).Iterator()
				for iter.Next(ctx) {
					c.Del(ctx, iter.Val())
				}
				c.Close()
			})
			return c, name
		}
		c.Close()
	}
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return c, name
}
