package enqueue

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/oktaq/oktaq/tasks"
)

// DryRunAction answers what one action would do now, changing nothing
// ("dry_run": true on POST /v1/actions and in a batch): the Okta calls it
// would make, their buckets, the share of the current budget they would
// use, and what would be refused and why. The request is checked as
// Enqueue checks it: a bad field or a producer's bound is an error as
// there; the connection's role and scope policy is not an error but the
// plan's refusal (Would "refused"), so the producer sees every reason at
// once. The planner reads Okta through the limiter; nothing is enqueued.
func (c *Client) DryRunAction(ctx context.Context, planner Planner, producer string, a tasks.Args) (*tasks.Plan, error) {
	if a == nil {
		return nil, errors.New("enqueue: no action given")
	}
	r, conn, err := c.checkRequest(producer, a, c.opts.Clock())
	if err != nil {
		return nil, err
	}
	step, err := stepOf(a)
	if err != nil {
		return nil, err
	}
	refused := map[int]*tasks.ErrorInfo{}
	if err := conn.Authorize(a.Action(), r.Requester.Role); err != nil {
		var na *tasks.NotAllowedError
		if !errors.As(err, &na) {
			return nil, err
		}
		refused[0] = &tasks.ErrorInfo{Code: na.Code(), Summary: na.Error(), Scope: na.Scope}
	}
	if planner == nil {
		return nil, ErrNoPlanner
	}
	return planner.Plan(ctx, tasks.PlanRequest{Request: *r, Steps: []tasks.PlaybookStep{step}, Refused: refused})
}

// stepOf is the action as a one-step plan: its options, groups and apps.
func stepOf(a tasks.Args) (tasks.PlaybookStep, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return tasks.PlaybookStep{}, err
	}
	var parts struct {
		Options map[string]any      `json:"options"`
		Groups  *tasks.GroupChanges `json:"groups"`
		Apps    *tasks.AppChanges   `json:"apps"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return tasks.PlaybookStep{}, err
	}
	return tasks.PlaybookStep{Action: a.Action(), Options: parts.Options, Groups: parts.Groups, Apps: parts.Apps}, nil
}
