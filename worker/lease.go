package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
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

// The lease keys of a task's user are the reference as given (a login
// lower-cased, as Okta compares logins; an id as is), and the other name
// of the same user when an earlier action resolved it (login <-> id,
// remembered for a day), so that an action given the login and one given
// the id also wait for each other. Every key carries the connection's
// hash tag; acquireLease reads the alias itself (one round trip).

func normalizeRef(ref string) string {
	ref = strings.TrimSpace(ref)
	if strings.Contains(ref, "@") {
		return strings.ToLower(ref)
	}
	return ref
}

func userKey(conn, ref string) string  { return "oktaq:{" + conn + "}:user:" + ref }
func aliasKey(conn, ref string) string { return "oktaq:{" + conn + "}:alias:" + ref }

// leaseUser serializes actions per (connection, user): it takes the
// user's lease for the rest of the chain, or holds the task (reschedule
// without spending an attempt) while another action has it.
func (w *Worker) leaseUser(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		conn, ref := at.conn.Conn.Name, normalizeRef(at.args.Base().User)
		// The lease is the task's: asynq runs one attempt of a task at a
		// time, so a lease held under the task's own id was left by its
		// earlier attempt (its release lost while Redis was down, or its
		// worker killed) and is taken over at once, not waited out.
		token := "task:" + at.taskID
		keys := []string{userKey(conn, ref)}
		at.flow = ratelimit.NewFlow()
		ctx = ratelimit.WithFlow(ctx, at.flow)
		hold, ans, err := w.acquireWithJournal(ctx, at, []string{keys[0], aliasKey(conn, ref)}, token, w.opts.Lease.TTL.Milliseconds(), userKey(conn, ""))
		got := int64(0)
		if err == nil && len(ans) == 2 {
			got, _ = ans[0].(int64)
			if other, _ := ans[1].(string); other != "" {
				keys = append(keys, userKey(conn, other))
			}
		}
		// The hold decides first, as when it was read before the lease:
		// a held task gives back the lease it took in the same round trip
		// (a held task is rare; an unheld one saves a round trip).
		if herr := w.applyHold(ctx, at, hold.raw, hold.err); herr != nil || at.result != nil {
			if got == 1 {
				// Given back by record, with the rest of the attempt's end.
				at.release = &leaseRelease{keys: keys, argv: []any{token, len(keys)}}
			}
			return herr
		}
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
			// The release also remembers that ref and the id Okta
			// resolved name the same user, both ways. record sends it
			// with the result write (one round trip for both), or alone
			// when the attempt ends without one.
			rel := &leaseRelease{keys: keys, argv: []any{token, len(keys)}}
			if at.result != nil && at.result.UserID != "" && at.result.UserID != ref {
				id := at.result.UserID
				rel.keys = append(slices.Clip(keys), aliasKey(conn, ref), aliasKey(conn, id))
				rel.argv = append(rel.argv, ref, id, (24 * time.Hour).Milliseconds())
			}
			if p := recover(); p != nil {
				at.release = rel
				w.endAttempt(ctx, at)
				panic(p)
			}
			at.release = rel
		}()
		return next.ProcessTask(ctx, t)
	})
}

// gatePiper is an Executor that can send its gate (Blocked, and the
// grant of the action's first call) in the lease's pipeline
// (*okta.Executor).
type gatePiper interface {
	GateIn(ctx context.Context, pipe redis.Pipeliner, rdb redis.UniversalClient, a tasks.Args, f *ratelimit.Flow) (func() (time.Time, string, error), bool)
}

// holdRead is the answer of holdCheckScript (hold.go), or why none came.
type holdRead struct {
	raw []string
	err error
}

// acquireWithJournal runs, in one round trip (a pipeline), the task's
// hold check (hold.go), acquireLease, the read of the task's journal
// entry for execute, the gate's looks at the connection's breaker and
// rate limits, and the rate limiter's grant of the action's first call.
func (w *Worker) acquireWithJournal(ctx context.Context, at *attempt, keys []string, args ...any) (holdRead, []any, error) {
	holdKeys, now, ttl := []string{tasks.HoldKey(at.taskID)}, w.now().UnixMilli(), w.holdTTL().Milliseconds()
	pipe := w.rdb.Pipeline()
	check := holdCheckScript.EvalSha(ctx, pipe, holdKeys, now, ttl)
	lease := acquireLease.EvalSha(ctx, pipe, keys, args...)
	entry := pipe.Get(ctx, journalKey(at.taskID))
	// A breaker with no hold admits every attempt (admitScript's first
	// answer): the gate skips its round trip then.
	breakerHold := pipe.HGet(ctx, stateKey(at.conn.Conn.Name), "until")
	if gp, ok := at.conn.Exec.(gatePiper); ok {
		pctx := ratelimit.WithPriority(ctx, okta.PriorityOf(at.args))
		if answer, ok := gp.GateIn(pctx, pipe, w.rdb, at.args, at.flow); ok {
			// Read at once, whatever the hold and lease say: a slot it
			// granted must be in the flow, to go back if unused.
			defer func() {
				u, b, err := answer()
				at.blocked = func() (time.Time, string, error) { return u, b, err }
			}()
		}
	}
	_, _ = pipe.Exec(ctx)
	at.breakerClosed = errors.Is(breakerHold.Err(), redis.Nil)
	if b, err := entry.Bytes(); err == nil || errors.Is(err, redis.Nil) {
		at.journal = &journalRead{known: true, entry: b}
	}
	var hold holdRead
	hold.raw, hold.err = check.StringSlice()
	if hold.err != nil && redis.HasErrorPrefix(hold.err, "NOSCRIPT") {
		hold.raw, hold.err = holdCheckScript.Run(ctx, w.rdb, holdKeys, now, ttl).StringSlice()
	}
	ans, err := lease.Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		ans, err = acquireLease.Run(ctx, w.rdb, keys, args...).Slice()
	}
	return hold, ans, err
}

// leaseRelease is a user lease's releaseLease call, not yet sent.
type leaseRelease struct {
	keys []string
	argv []any
}

// releaseNow sends the attempt's lease release on its own.
func (w *Worker) releaseNow(ctx context.Context, rel *leaseRelease) {
	_ = releaseLease.Run(context.WithoutCancel(ctx), w.rdb, rel.keys, rel.argv...).Err()
}

// endAttempt ends an attempt that writes no result, in one round trip:
// it gives back the user lease, records the last answers of its Okta
// calls (and a rate-limit slot taken ahead and not used), and takes back
// a started mark it set without executing the action (hold.go).
func (w *Worker) endAttempt(ctx context.Context, at *attempt) {
	ctx = context.WithoutCancel(ctx)
	pipe := w.rdb.Pipeline()
	after := w.queueEnd(ctx, pipe, at)
	if pipe.Len() > 0 {
		_, _ = pipe.Exec(ctx)
	}
	after()
}

// queueEnd adds to pipe what endAttempt sends; the returned func, called
// after Exec, reads the answers (and sends alone what Redis did not know
// the script of).
func (w *Worker) queueEnd(ctx context.Context, pipe redis.Pipeliner, at *attempt) (after func()) {
	var afters []func()
	if at.release != nil {
		afters = append(afters, w.queueRelease(ctx, pipe, at.release))
		at.release = nil
	}
	if at.flow != nil {
		afters = append(afters, at.flow.FlushIn(ctx, pipe, w.rdb))
	}
	if at.startedHere && !at.executed {
		cmd := unstartScript.EvalSha(ctx, pipe, []string{tasks.HoldKey(at.taskID)})
		afters = append(afters, func() {
			if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				_ = unstartScript.Run(ctx, w.rdb, []string{tasks.HoldKey(at.taskID)}).Err()
			}
		})
	}
	return func() {
		for _, a := range afters {
			a()
		}
	}
}

// queueRelease adds the release to pipe; the returned func, called
// after Exec, sends it alone if Redis did not know the script.
func (w *Worker) queueRelease(ctx context.Context, pipe redis.Pipeliner, rel *leaseRelease) func() {
	cmd := releaseLease.EvalSha(ctx, pipe, rel.keys, rel.argv...)
	return func() {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			w.releaseNow(ctx, rel)
		}
	}
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

// acquireLease takes the user's lease keys for ARGV[1], for ARGV[2] ms,
// or none: KEYS[1] is the reference's key, KEYS[2] its alias; the alias
// names a second key, ARGV[3] .. alias (the same hash tag, so the same
// slot). It answers {1 taken or 0 one is held by another, the alias}.
var acquireLease = redis.NewScript(`
local keys = {KEYS[1]}
local other = redis.call("GET", KEYS[2])
if other and other ~= "" then keys[2] = ARGV[3] .. other else other = "" end
for i = 1, #keys do
  local v = redis.call("GET", keys[i])
  if v and v ~= ARGV[1] then return {0, other} end
end
for i = 1, #keys do redis.call("SET", keys[i], ARGV[1], "PX", ARGV[2]) end
return {1, other}`)

// releaseLease deletes the first ARGV[2] keys still held by ARGV[1]; with
// ARGV[3] (a reference) and ARGV[4] (its user id) it also sets the next
// two keys, the aliases of each, to the other for ARGV[5] ms.
var releaseLease = redis.NewScript(`
local n = tonumber(ARGV[2])
for i = 1, n do
  if redis.call("GET", KEYS[i]) == ARGV[1] then redis.call("DEL", KEYS[i]) end
end
if ARGV[3] then
  redis.call("SET", KEYS[n+1], ARGV[4], "PX", ARGV[5])
  redis.call("SET", KEYS[n+2], ARGV[3], "PX", ARGV[5])
end
return 0`)
