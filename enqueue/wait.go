package enqueue

import (
	"context"
	"fmt"
	"time"
)

// The backoff of Wait: the first look soon after enqueue, when most
// interactive actions are already done, then doubling to a steady poll
// that costs Redis little for actions waiting out a rate limit or a
// retry.
const (
	WaitFirstPoll = 100 * time.Millisecond
	WaitMaxPoll   = 2 * time.Second
)

// nextPoll is the delay after prev in Wait's backoff.
func nextPoll(prev time.Duration) time.Duration {
	if prev <= 0 {
		return WaitFirstPoll
	}
	return min(2*prev, WaitMaxPoll)
}

// Wait polls the task until it is final (completed or archived) and
// returns it; Info.Result then holds the outcome. It polls with a backoff
// from WaitFirstPoll to WaitMaxPoll. Bound it with ctx: when ctx ends
// first, the error wraps ctx's error and says the task's last state, and
// the task goes on; read it later with Status. A task that does not exist
// (or whose result has expired) is ErrNotFound.
func (c *Client) Wait(ctx context.Context, id string) (*Info, error) {
	var delay time.Duration
	for {
		info, err := c.Status(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("task %s: gave up waiting: %w", id, ctx.Err())
			}
			return nil, err
		}
		if info.Final() {
			return info, nil
		}
		delay = nextPoll(delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("task %s is still %s: gave up waiting: %w", id, info.State, ctx.Err())
		case <-t.C:
		}
	}
}
