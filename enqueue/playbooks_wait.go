package enqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// PlaybookRun reads a run started by this client's producer
// (Options.Producer), as GET /v1/playbooks/runs/{id} answers it.
func (c *Client) PlaybookRun(ctx context.Context, id string) (*tasks.Run, error) {
	return c.Run(ctx, c.opts.Producer, id)
}

// WaitRun polls a run of this client's producer until it has ended
// (succeeded, partial or failed), with Wait's backoff. Bound it with ctx:
// when ctx ends first, the error wraps ctx's error and says where the run
// is; the run goes on.
func (c *Client) WaitRun(ctx context.Context, id string) (*tasks.Run, error) {
	var delay time.Duration
	for {
		run, err := c.PlaybookRun(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("playbook run %s: gave up waiting: %w", id, ctx.Err())
			}
			return nil, err
		}
		if run.State.Final() {
			return run, nil
		}
		delay = nextPoll(delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("playbook run %s is still %s: gave up waiting: %w", id, run.State, ctx.Err())
		case <-t.C:
		}
	}
}
