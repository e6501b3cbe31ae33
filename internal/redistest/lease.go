package redistest

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// On the server at OKTAQ_TEST_REDIS_URL, test binaries of several packages
// run at once, so a DB index is leased through Redis itself (a key in DB 0
// holding the pid), and a lease whose process is gone is taken over.
const (
	firstDB, lastDB = 1, 15 // DB 0 holds the leases
	leaseTTL        = 15 * time.Minute
	waitForDB       = 5 * time.Minute // guards against a hang only
)

// onShared leases a DB index of the server at base.
func onShared(base *redis.Options) (*Redis, func(), error) {
	leases := redis.NewClient(base)
	db, err := acquire(leases)
	if err != nil {
		leases.Close()
		return nil, nil, err
	}
	r, cleanup, err := onDB(base, db)
	if err != nil {
		leases.Del(context.Background(), leaseKey(db))
		leases.Close()
		return nil, nil, err
	}
	return r, func() {
		cleanup()
		leases.Del(context.Background(), leaseKey(db))
		leases.Close()
	}, nil
}

// acquire leases a free DB index, waiting while all are taken.
func acquire(c *redis.Client) (int, error) {
	ctx := context.Background()
	guard := time.NewTimer(waitForDB)
	defer guard.Stop()
	for {
		for db := firstDB; db <= lastDB; db++ {
			ok, err := c.SetNX(ctx, leaseKey(db), os.Getpid(), leaseTTL).Result()
			if err != nil {
				return 0, err
			}
			if ok || reclaim(c, db) {
				return db, nil
			}
		}
		select {
		case <-guard.C:
			return 0, fmt.Errorf("no free Redis DB index (%d-%d) in %s", firstDB, lastDB, waitForDB)
		case <-time.After(50 * time.Millisecond):
		}
	}
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
