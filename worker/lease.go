package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// LeasePolicy configures the per-user lease: two actions on one user of
// one connection never run at once, in any worker. Without it three
// concurrent suspends of one user all read ACTIVE and all called Okta:
// one succeeded, the others failed E0000001 although the user ended
// SUSPENDED.
type LeasePolicy struct {
	// TTL is how long a lease outlives a worker that died holding it; a
	// live worker renews it every third of TTL.
	TTL time.Duration
	// Busy is how soon a task that found its user busy runs again (plus
	// up to as much jitter). It spends no attempt.
	Busy time.Duration
}

// DefaultLeasePolicy: a lease lasts 15 s past its last renewal (it is
// renewed every 5 s while the action runs, so an attempt may take as long
// as it needs); a busy user's task runs again within 0.5-1 s. A task takes
// over a lease under its own id, so only other actions on the user wait
// out the lease of a worker that died: up to 15 s.
func DefaultLeasePolicy() LeasePolicy {
	return LeasePolicy{TTL: 15 * time.Second, Busy: 500 * time.Millisecond}
}

// userKeys are the lease keys of a task's user: the reference as given
// (a login lower-cased, as Okta compares logins; an id as is), and the
// other name of the same user when an earlier action resolved it (login
// <-> id, remembered for a day), so that an action given the login and
// one given the id also wait for each other. Every key carries the
// connection's hash tag.
func (w *Worker) userKeys(ctx context.Context, conn, ref string) []string {
	ref = normalizeRef(ref)
	keys := []string{userKey(conn, ref)}
	if other, err := w.rdb.Get(ctx, aliasKey(conn, ref)).Result(); err == nil && other != "" {
		keys = append(keys, userKey(conn, other))
	}
	return keys
}

func normalizeRef(ref string) string {
	ref = strings.TrimSpace(ref)
	if strings.Contains(ref, "@") {
		return strings.ToLower(ref)
	}
	return ref
}

func userKey(conn, ref string) string  { return "oktaq:{" + conn + "}:user:" + ref }
func aliasKey(conn, ref string) string { return "oktaq:{" + conn + "}:alias:" + ref }

// remember notes that ref and id name the same user, both ways.
func (w *Worker) remember(ctx context.Context, conn, ref, id string) {
	ref = normalizeRef(ref)
	if id == "" || ref == id {
		return
	}
	ctx = context.WithoutCancel(ctx)
	pipe := w.rdb.Pipeline()
	pipe.Set(ctx, aliasKey(conn, ref), id, 24*time.Hour)
	pipe.Set(ctx, aliasKey(conn, id), ref, 24*time.Hour)
	_, _ = pipe.Exec(ctx)
}

// leaseUser serializes actions per (connection, user): it takes the
// user's lease for the rest of the chain, or holds the task (reschedule
// without spending an attempt) while another action has it.
func (w *Worker) leaseUser(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		conn, ref := at.conn.Conn.Name, at.args.Base().User
		keys := w.userKeys(ctx, conn, ref)
		// The lease is the task's: asynq runs one attempt of a task at a
		// time, so a lease held under the task's own id was left by its
		// earlier attempt (its release lost while Redis was down, or its
		// worker killed) and is taken over at once, not waited out.
		token := "task:" + at.taskID
		got, err := acquireLease.Run(ctx, w.rdb, keys, token, w.opts.Lease.TTL.Milliseconds()).Int()
		switch {
		case err != nil:
			// Without Redis nothing can be done anyway (the limiter
			// refuses every call): try again soon.
			return &HeldError{Until: w.now().Add(w.opts.Lease.Busy), Reason: fmt.Sprintf("user lease: %v", err)}
		case got == 0:
			busy := w.opts.Lease.Busy
			return &HeldError{Until: w.now().Add(busy + rand.N(busy+1)), Reason: "another action on this user is under way"}
		}
		stop := w.keepLease(ctx, keys, token)
		defer func() {
			stop()
			_ = releaseLease.Run(context.WithoutCancel(ctx), w.rdb, keys, token).Err()
		}()
		err = next.ProcessTask(ctx, t)
		if at.result != nil {
			w.remember(ctx, conn, ref, at.result.UserID)
		}
		return err
	})
}

// keepLease extends the lease every third of its TTL while the action
// runs (an update of many groups may outlast one TTL); stop ends it.
func (w *Worker) keepLease(ctx context.Context, keys []string, token string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(w.opts.Lease.TTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = extendLease.Run(context.WithoutCancel(ctx), w.rdb, keys, token, w.opts.Lease.TTL.Milliseconds()).Err()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// extendLease moves the expiry of the keys still held by ARGV[1].
var extendLease = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call("GET", KEYS[i]) == ARGV[1] then redis.call("PEXPIRE", KEYS[i], ARGV[2]) end
end
return 0`)

// acquireLease takes every key of KEYS for ARGV[1], for ARGV[2] ms, or
// none: 1 taken, 0 one of them is held by another.
var acquireLease = redis.NewScript(`
for i = 1, #KEYS do
  local v = redis.call("GET", KEYS[i])
  if v and v ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do redis.call("SET", KEYS[i], ARGV[1], "PX", ARGV[2]) end
return 1`)

// releaseLease deletes the keys still held by ARGV[1].
var releaseLease = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call("GET", KEYS[i]) == ARGV[1] then redis.call("DEL", KEYS[i]) end
end
return 0`)
