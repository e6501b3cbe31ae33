package enqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// An idempotency key is the task id (TaskID). asynq makes a task id
// unique within a queue, atomically, but the same key may come with an
// action of another queue: a claim key (one per producer and key) records
// the queue and type of the first request, so that a second one for
// another queue is refused atomically instead of running beside it.
//
// On one Redis node the claim rides in asynq's own enqueue script: one
// round trip per keyed action instead of two (issue 19; in
// BenchmarkPostActions Redis CPU per action 59 -> 46 µs, the API's own
// 197 -> 172 µs). asynq encodes the task and calls EVALSHA
// with its script; the Client's asynq.Client runs on claimRedis, which,
// when the context carries a *claim, runs that script with the claim's
// check in front, in the same call. A Redis Cluster keeps the claim and
// the task in different hash slots, so there the claim takes its own
// round trip first, as it does when asynq's script is not one we know.

// claim is one keyed enqueue's claim: its key, its value (queue and
// type) and TTL; claimRedis sets held when another request holds it, or
// err when Redis failed.
type claim struct {
	key, value string
	ttl        time.Duration
	held       string
	err        error
}

type claimCtxKey struct{}

// errClaimHeld is what asynq sees when the claim is another request's;
// submitKeyed reads the claim itself.
var errClaimHeld = errors.New("idempotency claim held by another request")

// asynqEnqueueSrc and asynqScheduleSrc are asynq v0.26.0's enqueueCmd and
// scheduleCmd (internal/rdb/rdb.go), byte for byte. claimRedis knows
// them by their SHA-1: a script a later asynq changes is not folded (the
// claim then takes its own round trip, and
// TestKeyedEnqueueIsOneRoundTrip fails).
const (
	asynqEnqueueSrc = `
if redis.call("EXISTS", KEYS[1]) == 1 then
	return 0
end
redis.call("HSET", KEYS[1],
           "msg", ARGV[1],
           "state", "pending",
           "pending_since", ARGV[3])
redis.call("LPUSH", KEYS[2], ARGV[2])
return 1
`
	asynqScheduleSrc = `
if redis.call("EXISTS", KEYS[1]) == 1 then
	return 0
end
redis.call("HSET", KEYS[1],
           "msg", ARGV[1],
           "state", "scheduled")
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
return 1
`
)

// claimPrelude goes in front of an asynq script that takes two keys and
// three arguments: KEYS[3] the claim, ARGV[4] its value, ARGV[5] its TTL
// (ms). It answers the value held by another request, as a string, or
// takes the claim (when free) and goes on with asynq's script, which
// answers 1 (enqueued) or 0 (the id exists in the queue).
const claimPrelude = `
local held = redis.call("GET", KEYS[3])
if held and held ~= ARGV[4] then return held end
if not held then redis.call("SET", KEYS[3], ARGV[4], "PX", ARGV[5]) end
`

// foldedScripts maps the SHA-1 of an asynq script to it with the claim
// in front.
var foldedScripts = map[string]*redis.Script{
	redis.NewScript(asynqEnqueueSrc).Hash():  redis.NewScript(claimPrelude + asynqEnqueueSrc),
	redis.NewScript(asynqScheduleSrc).Hash(): redis.NewScript(claimPrelude + asynqScheduleSrc),
}

// claimRedis is the Redis client under the Client's asynq.Client: it
// takes the claim that the context carries, if any, with asynq's script.
// On one node its scripts go through a scriptBatcher (scriptbatch.go).
type claimRedis struct {
	redis.UniversalClient
	// batch is set on one node, where a script may touch the claim and
	// the task (fold).
	batch *scriptBatcher
}

func newClaimRedis(rc redis.UniversalClient) claimRedis {
	if c, oneNode := rc.(*redis.Client); oneNode {
		return claimRedis{UniversalClient: rc, batch: &scriptBatcher{rc: c}}
	}
	return claimRedis{UniversalClient: rc}
}

func (r claimRedis) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	cl, _ := ctx.Value(claimCtxKey{}).(*claim)
	if cl == nil {
		if r.batch != nil {
			return r.batch.evalSha(ctx, sha, keys, args...) // asynq's Script.Run falls back to Eval on NOSCRIPT
		}
		return r.UniversalClient.EvalSha(ctx, sha, keys, args...)
	}
	if s := foldedScripts[sha]; s != nil && r.batch != nil && len(keys) == 2 && len(args) == 3 {
		keys, args := []string{keys[0], keys[1], cl.key}, []any{args[0], args[1], args[2], cl.value, cl.ttl.Milliseconds()}
		res := r.batch.evalSha(ctx, s.Hash(), keys, args...)
		if isNoScript(res.Err()) {
			res = s.Eval(ctx, r.UniversalClient, keys, args...)
		}
		if held, ok := res.Val().(string); ok && res.Err() == nil {
			cl.held = held
			return failedCmd(ctx, errClaimHeld)
		}
		if res.Err() != nil {
			cl.err = fmt.Errorf("%w: claim idempotency key and enqueue: %w", ErrUnavailable, res.Err())
		}
		return res
	}
	if err := cl.take(ctx, r.UniversalClient); err != nil {
		return failedCmd(ctx, err)
	}
	return r.UniversalClient.EvalSha(ctx, sha, keys, args...)
}

// take claims the key in its own round trips (SET NX, then GET when
// held), for a script that cannot carry it.
func (cl *claim) take(ctx context.Context, rc redis.UniversalClient) error {
	for {
		won, err := rc.SetNX(ctx, cl.key, cl.value, cl.ttl).Result()
		if err != nil {
			cl.err = fmt.Errorf("%w: claim idempotency key: %w", ErrUnavailable, err)
			return cl.err
		}
		if won {
			return nil
		}
		held, err := rc.Get(ctx, cl.key).Result()
		switch {
		case errors.Is(err, redis.Nil): // expired in between: the key is free again
			continue
		case err != nil:
			cl.err = fmt.Errorf("%w: read idempotency claim: %w", ErrUnavailable, err)
			return cl.err
		case held != cl.value:
			cl.held = held
			return errClaimHeld
		}
		return nil
	}
}

// isNoScript: Redis does not hold the script (restarted, flushed).
func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

func failedCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// submitKeyed enqueues a task whose id comes from an idempotency key,
// under the key's claim: a repeat of the same request answers the
// existing task, another request under the same key ErrKeyConflict.
func (c *Client) submitKeyed(ctx context.Context, task *asynq.Task, aopts []asynq.Option, k keyed) (*Info, error) {
	for range 3 {
		cl := &claim{key: claimKey(k.id), value: k.queue + " " + task.Type(), ttl: k.ttl}
		info, err := c.submit(context.WithValue(ctx, claimCtxKey{}, cl), task, aopts, k.producer)
		switch {
		case cl.held != "":
			_, heldType, _ := strings.Cut(cl.held, " ")
			return nil, fmt.Errorf("%w: key %q belongs to an earlier %s request; use a new key for a new request",
				ErrKeyConflict, k.key, strings.TrimPrefix(heldType, tasks.TypePrefix))
		case cl.err != nil:
			return nil, cl.err
		case !errors.Is(err, asynq.ErrTaskIDConflict):
			return info, err
		}
		info, err = c.existing(ctx, task, k)
		if !errors.Is(err, ErrNotFound) {
			return info, err
		}
		// The task expired between the two calls: enqueue again.
	}
	return nil, fmt.Errorf("%w: task %q keeps conflicting and vanishing", ErrUnavailable, k.id)
}

// keyed is where a keyed task goes: its queue, its id (from producer and
// key) and how long its claim lasts.
type keyed struct {
	queue, id, key, producer string
	ttl                      time.Duration
}

// claimKey is the Redis key that holds an idempotency key's claim.
func claimKey(id string) string { return "oktaq:idem:" + id }
