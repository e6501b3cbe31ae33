package worker

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta/ratelimit"
)

// journal is okta.Journal for one task, in Redis, so that the attempt
// after a crash (in any worker process) knows a call was sent and never
// answered. It expires with the task's deadline.
//
// The entry may come read already (known, entry): the user lease reads it
// in the round trip that takes the lease, and only this attempt writes it
// while the lease is held (asynq runs a task once at a time), so the copy
// stays true: Sent and Answered keep it in step.
type journal struct {
	rdb   redis.UniversalClient
	key   string
	ttl   time.Duration
	known bool
	entry []byte
}

func journalKey(taskID string) string { return "oktaq:journal:" + taskID }

func newJournal(rdb redis.UniversalClient, taskID string, ttl time.Duration, pre *journalRead) *journal {
	j := &journal{rdb: rdb, key: journalKey(taskID), ttl: ttl}
	if pre != nil && pre.known {
		j.known, j.entry = true, pre.entry
	}
	return j
}

// journalRead is the journal entry as read with the lease.
type journalRead struct {
	known bool
	entry []byte
}

// Sent writes the entry in the round trip of the call's own rate-limit
// grant when the attempt has a flow (ratelimit.Flow.Before): the call
// does not go unless the write succeeded, so the entry is in Redis before
// the call is sent, at no round trip of its own.
func (j *journal) Sent(ctx context.Context, before []byte) error {
	if f := ratelimit.FlowFrom(ctx); f != nil {
		f.Before(j.rdb, func(pipe redis.Pipeliner) func() error {
			cmd := pipe.Set(ctx, j.key, before, j.ttl)
			return cmd.Err
		})
		j.known, j.entry = true, before
		return nil
	}
	err := j.rdb.Set(ctx, j.key, before, j.ttl).Err()
	j.known, j.entry = err == nil, before
	return err
}

func (j *journal) Answered(ctx context.Context) error {
	err := j.rdb.Del(ctx, j.key).Err()
	j.known, j.entry = err == nil, nil
	return err
}

func (j *journal) Pending(ctx context.Context) ([]byte, bool, error) {
	if j.known {
		return j.entry, j.entry != nil, nil
	}
	b, err := j.rdb.Get(ctx, j.key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return b, err == nil, err
}
