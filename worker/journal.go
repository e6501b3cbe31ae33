package worker

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// journal is okta.Journal for one task, in Redis, so that the attempt
// after a crash (in any worker process) knows a call was sent and never
// answered. It expires with the task's deadline.
type journal struct {
	rdb redis.UniversalClient
	key string
	ttl time.Duration
}

func newJournal(rdb redis.UniversalClient, taskID string, ttl time.Duration) *journal {
	return &journal{rdb: rdb, key: "oktaq:journal:" + taskID, ttl: ttl}
}

func (j *journal) Sent(ctx context.Context, before []byte) error {
	return j.rdb.Set(ctx, j.key, before, j.ttl).Err()
}

func (j *journal) Answered(ctx context.Context) error {
	return j.rdb.Del(ctx, j.key).Err()
}

func (j *journal) Pending(ctx context.Context) ([]byte, bool, error) {
	b, err := j.rdb.Get(ctx, j.key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return b, err == nil, err
}
