package enqueue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// Options configure a Client. Keyring and Connections are required.
type Options struct {
	// Keyring signs every task; workers verify with the same keys.
	Keyring *tasks.Keyring
	// Connections by name: each one's policy (scopes, roles), checked
	// before enqueue.
	Connections map[string]*tasks.Policy
	// Retention keeps a finished task and its result readable (default 7 days).
	Retention time.Duration
	// Deadline gives an action up this long after it becomes due (default 2h).
	Deadline time.Duration
	// MaxAttempts of an action, the first included (default 12).
	MaxAttempts int
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
}

// Client enqueues actions and reads their state. It is safe for
// concurrent use.
type Client struct {
	asynq     *asynq.Client
	inspector *asynq.Inspector
	rc        redis.UniversalClient
	ownsRC    bool
	opts      Options
}

// New connects to Redis with asynq's connection options.
func New(conn asynq.RedisConnOpt, opts Options) *Client {
	rc, ok := conn.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		panic(fmt.Sprintf("enqueue: %T does not make a redis.UniversalClient", conn))
	}
	c := NewFromRedisClient(rc, opts)
	c.ownsRC = true
	return c
}

// NewFromRedisClient uses an existing Redis client; Close leaves it open.
func NewFromRedisClient(rc redis.UniversalClient, opts Options) *Client {
	if opts.Keyring == nil {
		panic("enqueue: Options.Keyring is required")
	}
	if opts.Retention <= 0 {
		opts.Retention = tasks.DefaultResultRetention
	}
	if opts.Deadline <= 0 {
		opts.Deadline = tasks.DefaultTaskDeadline
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = tasks.DefaultMaxAttempts
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Client{asynq: asynq.NewClientFromRedisClient(rc), inspector: asynq.NewInspectorFromRedisClient(rc), rc: rc, opts: opts}
}

// Close releases the Redis connection if the Client opened it.
func (c *Client) Close() error {
	if c.ownsRC {
		return c.rc.Close()
	}
	return nil
}

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Connection returns the named connection's policy ("" is "default").
func (c *Client) Connection(name string) (*tasks.Policy, bool) {
	if name == "" {
		name = tasks.DefaultConnection
	}
	conn, ok := c.opts.Connections[name]
	return conn, ok
}

// Enqueue validates the action, checks that the connection's policy allows
// it, signs it and enqueues it on its queue. Errors: *tasks.ValidationError
// for bad input (an unknown connection included), *tasks.NotAllowedError
// when the role or scope is not allowed, ErrKeyConflict when the
// idempotency key names a task for a different request, ErrUnavailable
// when Redis cannot be reached.
//
// With an idempotency key, the key is the task id. Enqueuing the same
// request again (same payload apart from requested_at, which a retry
// naturally renews) returns the existing task with Info.Existing set.
func (c *Client) Enqueue(ctx context.Context, a tasks.Args, opts ...EnqueueOption) (*Info, error) {
	var o enqueueOptions
	for _, opt := range opts {
		opt(&o)
	}
	if a == nil {
		return nil, errors.New("enqueue: no action given")
	}
	now := c.opts.Clock()
	tasks.Normalize(a, now)
	r := a.Base()
	r.Bulk = r.Bulk || o.bulk
	if err := tasks.Validate(a, now); err != nil {
		return nil, err
	}
	conn, ok := c.Connection(r.Connection)
	if !ok {
		return nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "connection",
			Reason: fmt.Sprintf("unknown connection %q; known: %s", r.ConnectionName(), strings.Join(slices.Sorted(maps.Keys(c.opts.Connections)), ", "))}}}
	}
	if err := conn.Authorize(a.Action(), r.Requester.Role); err != nil {
		return nil, err
	}
	due := now
	switch {
	case !o.runAt.IsZero():
		due = o.runAt
	case o.after > 0:
		due = now.Add(o.after)
	}
	deadline := o.deadline
	if deadline.IsZero() {
		deadline = later(due, now).Add(c.opts.Deadline)
	} else if !deadline.After(later(due, now)) {
		return nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "deadline", Reason: "must be after the time the action is due"}}}
	}
	// The deadline travels in the signed payload and the worker enforces
	// it: asynq's own Deadline would cut the attempt's context and, once
	// passed, fail every later attempt before our handler could record
	// why, retrying until the attempts ran out.
	r.Deadline = deadline
	payload, err := tasks.Marshal(a)
	if err != nil {
		return nil, err
	}
	typeName := a.Action().TypeName()
	task := asynq.NewTaskWithHeaders(typeName, payload, c.opts.Keyring.Sign(typeName, payload))
	queue := a.Action().Queue(r.Bulk)
	id := r.IdempotencyKey
	aopts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(c.opts.MaxAttempts - 1),
		asynq.Timeout(AttemptTimeout), asynq.Retention(c.opts.Retention)}
	if due.After(now) {
		aopts = append(aopts, asynq.ProcessAt(due))
	}
	if id == "" {
		aopts = append(aopts, asynq.TaskID(uuid.NewString()))
		return c.submit(ctx, task, aopts, r.Producer)
	}
	aopts = append(aopts, asynq.TaskID(id))
	return c.submitKeyed(ctx, task, aopts, queue, id, r.Producer)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (c *Client) submit(ctx context.Context, task *asynq.Task, aopts []asynq.Option, producer string) (*Info, error) {
	ti, err := c.asynq.EnqueueContext(ctx, task, aopts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: enqueue %s: %w", ErrUnavailable, task.Type(), err)
	}
	info := c.infoFrom(ti, nil)
	info.Producer = producer
	return info, nil
}

// submitKeyed enqueues with the idempotency key as task id. asynq makes the
// id unique within a queue, atomically; the key must also be unique across
// queues (another action may go to another queue), which a look into the
// other queues first ensures.
func (c *Client) submitKeyed(ctx context.Context, task *asynq.Task, aopts []asynq.Option, queue, id, producer string) (*Info, error) {
	other, err := c.queueHolding(ctx, id, queue)
	if err != nil {
		return nil, err
	}
	if other != "" {
		return c.existing(ctx, task, other, id)
	}
	for range 3 {
		info, err := c.submit(ctx, task, aopts, producer)
		if !errors.Is(err, asynq.ErrTaskIDConflict) {
			return info, err
		}
		info, err = c.existing(ctx, task, queue, id)
		if !errors.Is(err, ErrNotFound) {
			return info, err
		}
		// The task expired between the two calls: enqueue again.
	}
	return nil, fmt.Errorf("%w: task %q keeps conflicting and vanishing", ErrUnavailable, id)
}

// Queues returns every queue oktaq enqueues on, most urgent first.
func Queues() []string { return []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} }

// queueHolding returns the queue other than except that has a task id, or
// "". It reads asynq's task keys (asynq:{queue}:t:id) in one round trip.
func (c *Client) queueHolding(ctx context.Context, id, except string) (string, error) {
	pipe := c.rc.Pipeline()
	cmds := map[string]*redis.IntCmd{}
	for _, q := range Queues() {
		if q != except {
			cmds[q] = pipe.Exists(ctx, "asynq:{"+q+"}:t:"+id)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("%w: look up task %q: %w", ErrUnavailable, id, err)
	}
	for _, q := range Queues() {
		if cmd, ok := cmds[q]; ok && cmd.Val() > 0 {
			return q, nil
		}
	}
	return "", nil
}

// existing answers a repeated idempotency key: the task that holds it if
// it is for the same request, else ErrKeyConflict.
func (c *Client) existing(ctx context.Context, task *asynq.Task, queue, id string) (*Info, error) {
	ti, err := c.taskInfo(ctx, queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("%w: read task %q: %w", ErrUnavailable, id, err)
	}
	if !sameRequest(task.Type(), task.Payload(), ti.Type, ti.Payload) {
		return nil, fmt.Errorf("%w: key %q is the id of an earlier %s request with other fields; use a new key for a new request",
			ErrKeyConflict, id, strings.TrimPrefix(ti.Type, tasks.TypePrefix))
	}
	info := c.infoFrom(ti, nil)
	info.Existing = true
	return info, nil
}

// AttemptTimeout bounds one attempt of an action (each Okta call has its
// own, shorter timeout).
const AttemptTimeout = 10 * time.Minute

// sameRequest compares two payloads as requests: requested_at and the
// deadline derived from it are left out, because a producer retrying after
// a timeout stamps a new one.
func sameRequest(typeA string, a []byte, typeB string, b []byte) bool {
	if typeA != typeB {
		return false
	}
	ca, errA := canonical(typeA, a)
	cb, errB := canonical(typeB, b)
	return errA == nil && errB == nil && string(ca) == string(cb)
}

func canonical(typeName string, payload []byte) ([]byte, error) {
	args, err := tasks.DecodeTask(typeName, payload)
	if err != nil {
		return nil, err
	}
	args.Base().RequestedAt, args.Base().Deadline = time.Time{}, time.Time{}
	return tasks.Marshal(args)
}
