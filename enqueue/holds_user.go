package enqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// Held is one action on a user that waits (tasks.HeldAction): the user
// view (GET /v1/users/{ref}) lists them.
type Held = tasks.HeldAction

// HeldFor lists the actions on a user, named by any of refs (the Okta id
// and the login, compared case-insensitively), that await approval or
// the user's push, and the removals of the user's time-bound access. It
// reads the waiting tasks of every queue (scheduled and retrying: a held
// task waits in one of those), so its cost grows with what waits, not
// with what ran.
func (c *Client) HeldFor(ctx context.Context, refs ...string) ([]Held, error) {
	want := map[string]bool{}
	for _, r := range refs {
		if r != "" {
			want[strings.ToLower(r)] = true
		}
	}
	var out []Held
	for _, q := range Queues() {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){c.inspector.ListScheduledTasks, c.inspector.ListRetryTasks, c.inspector.ListPendingTasks} {
			for page := 1; ; page++ {
				tis, err := list(q, asynq.PageSize(500), asynq.Page(page))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("%w: list waiting tasks of %s: %w", ErrUnavailable, q, err)
				}
				for _, ti := range tis {
					h, ok, err := c.held(ctx, ti, want)
					if err != nil {
						return nil, err
					}
					if ok {
						out = append(out, h)
					}
				}
				if len(tis) < 500 {
					break
				}
			}
		}
	}
	return out, nil
}

func (c *Client) held(ctx context.Context, ti *asynq.TaskInfo, want map[string]bool) (Held, bool, error) {
	args, err := tasks.DecodeTask(ti.Type, ti.Payload)
	if err != nil || !want[strings.ToLower(args.Base().User)] {
		return Held{}, false, nil
	}
	r := args.Base()
	info := c.infoFrom(ti, &r.Producer)
	if err := c.overlay(ctx, info); err != nil {
		return Held{}, false, err
	}
	h := Held{ID: ti.ID, Action: args.Action(), State: info.State, Producer: r.Producer, FollowUpOf: r.FollowUpOf,
		ExpiresAccess: r.FollowUpOf != "", RunAt: info.RunAt, ApprovalExpiresAt: info.ApprovalExpiresAt}
	switch {
	case h.ExpiresAccess, info.State == StateAwaitingApproval, info.State == StateAwaitingVerification:
		return h, true, nil
	}
	return Held{}, false, nil
}
