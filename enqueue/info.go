package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// Task states, as the API reports them.
const (
	StatePending   = "pending"
	StateScheduled = "scheduled"
	StateActive    = "active"
	StateRetry     = "retry"
	StateCompleted = "completed"
	StateArchived  = "archived"
)

// Info is what is known of one task.
type Info struct {
	ID     string
	Action tasks.Action
	Queue  string
	// State is one of the State constants.
	State string
	// Existing is set when Enqueue found the task already enqueued under
	// the same idempotency key.
	Existing    bool
	Attempts    int
	MaxAttempts int
	LastError   string
	// Result is the worker's record, once the task has finished.
	Result   *tasks.Result
	Producer string
	// NextProcessAt is when a pending, scheduled or retry task runs next.
	NextProcessAt time.Time
	// RunAt is the time a reschedule (or a time-bound access) set.
	RunAt time.Time
	// ApprovalExpiresAt is when an action awaiting approval expires.
	ApprovalExpiresAt time.Time
}

// Final reports whether the task will not run again.
func (i *Info) Final() bool { return i.State == StateCompleted || i.State == StateArchived }

// Status returns the task with the id, or ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (*Info, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	for _, q := range Queues() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ti, err := c.taskInfo(ctx, q, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("%w: read task %q: %w", ErrUnavailable, id, err)
		}
		var producer string
		if args, err := tasks.DecodeTask(ti.Type, ti.Payload); err == nil {
			producer = args.Base().Producer
		}
		info := c.infoFrom(ti, &producer)
		if err := c.overlay(ctx, info); err != nil {
			return nil, err
		}
		c.addConfirmation(ctx, info) // okta_events_status.go
		return info, nil
	}
	return nil, ErrNotFound
}

// StatusFor is Status as producer sees it: another producer's task is
// ErrNotFound too, so that its existence does not leak.
func (c *Client) StatusFor(ctx context.Context, producer, id string) (*Info, error) {
	info, err := c.Status(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.Producer != producer {
		return nil, ErrNotFound
	}
	return info, nil
}

func (c *Client) infoFrom(ti *asynq.TaskInfo, producer *string) *Info {
	action, _ := tasks.ActionFromType(ti.Type)
	info := &Info{ID: ti.ID, Action: action, Queue: ti.Queue, State: stateName(ti.State),
		Attempts: ti.Retried, MaxAttempts: ti.MaxRetry + 1, LastError: plainError(ti.LastErr), NextProcessAt: ti.NextProcessAt}
	switch ti.State {
	case asynq.TaskStateActive, asynq.TaskStateCompleted, asynq.TaskStateArchived:
		info.Attempts++ // the running or last attempt is not a retry
	}
	if producer != nil {
		info.Producer = *producer
	}
	if len(ti.Result) > 0 {
		var r tasks.Result
		if err := json.Unmarshal(ti.Result, &r); err == nil {
			info.Result = &r
			if r.Attempts > 0 {
				info.Attempts = r.Attempts
			}
		}
	}
	return info
}

// plainError drops the text asynq's sentinels add to the error the worker
// returned (": skip retry for the task"): queue mechanics, not the cause.
func plainError(s string) string {
	for _, sentinel := range []error{asynq.SkipRetry, asynq.RevokeTask} {
		s = strings.TrimSuffix(s, ": "+sentinel.Error())
	}
	return s
}

func stateName(s asynq.TaskState) string {
	switch s {
	case asynq.TaskStateActive:
		return StateActive
	case asynq.TaskStateScheduled:
		return StateScheduled
	case asynq.TaskStateRetry:
		return StateRetry
	case asynq.TaskStateCompleted:
		return StateCompleted
	case asynq.TaskStateArchived:
		return StateArchived
	default: // pending, aggregating (oktaq does not group tasks)
		return StatePending
	}
}

// StatusView is the JSON of an action's state: the answer of
// GET /v1/actions/{id} and of `oktaq status --json`.
type StatusView struct {
	ID          string        `json:"id"`
	Action      string        `json:"action"`
	State       string        `json:"state"`
	Attempts    int           `json:"attempts"`
	MaxAttempts int           `json:"max_attempts"`
	LastError   string        `json:"last_error"`
	Result      *tasks.Result `json:"result"`
	// RunAt is when a scheduled action runs (set or moved by reschedule).
	RunAt *time.Time `json:"run_at,omitempty"`
	// ApprovalExpiresAt is when an action awaiting approval expires.
	ApprovalExpiresAt *time.Time `json:"approval_expires_at,omitempty"`
}

// View is the public JSON shape of i.
func (i *Info) View() StatusView {
	v := StatusView{ID: i.ID, Action: string(i.Action), State: i.State, Attempts: i.Attempts,
		MaxAttempts: i.MaxAttempts, LastError: i.LastError, Result: i.Result}
	if !i.RunAt.IsZero() && !i.Final() {
		v.RunAt = &i.RunAt
	}
	if i.State == StateAwaitingApproval {
		v.ApprovalExpiresAt = &i.ApprovalExpiresAt
	}
	return v
}

// taskInfo is the inspector's GetTaskInfo, healed after Redis lost its
// data (FLUSHALL, a restore from an old snapshot): asynq's client adds a
// queue to the set of queues only the first time it enqueues on it, and
// the inspector answers "queue not found" for a queue missing from the
// set, so tasks enqueued since would read as absent until a restart.
// When the task's own key exists, the queue is added back and read again.
//
// A task hash without its message is a remnant, not a task: a result
// written after Redis rolled back (asynq's ResultWriter sets the field on
// whatever is there), with no expiry and no owner. It made its
// idempotency key answer 503 for ever; it is deleted and the task reads
// as absent, so that the key can be used again.
func (c *Client) taskInfo(ctx context.Context, queue, id string) (*asynq.TaskInfo, error) {
	key := "asynq:{" + queue + "}:t:" + id
	ti, err := c.inspector.GetTaskInfo(queue, id)
	switch {
	case err == nil || errors.Is(err, asynq.ErrTaskNotFound):
		return ti, err
	case !errors.Is(err, asynq.ErrQueueNotFound):
		if n, rerr := dropRemnant.Run(ctx, c.rc, []string{key}).Int(); rerr == nil && n == 1 {
			return nil, asynq.ErrTaskNotFound
		}
		return nil, err
	}
	n, xerr := c.rc.Exists(ctx, key).Result()
	if xerr != nil || n == 0 {
		return nil, err
	}
	if aerr := c.rc.SAdd(ctx, "asynq:queues", queue).Err(); aerr != nil {
		return nil, fmt.Errorf("re-adding queue %q to asynq:queues: %w", queue, aerr)
	}
	return c.inspector.GetTaskInfo(queue, id)
}

// dropRemnant deletes a task hash that has no message (see taskInfo).
var dropRemnant = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 and redis.call("HEXISTS", KEYS[1], "msg") == 0 then
	redis.call("DEL", KEYS[1])
	return 1
end
return 0`)
