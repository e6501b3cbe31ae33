package enqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// Options configure a Client. Keyring, Connections and Producer are
// required to enqueue; a Client that only reads task state needs none.
type Options struct {
	// Producer is who this client enqueues as: every task it signs names
	// it, and its idempotency keys are its own.
	Producer string
	// Producers bounds what each producer may assert (roles, connections);
	// the zero value lets no producer assert any role. Workers check it
	// again.
	Producers tasks.Producers
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
	// ApprovalTTL is how long an action listed in a connection's
	// Approvals waits for a second person (default 24h).
	ApprovalTTL time.Duration
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
	// Playbooks are the operators' playbooks (OKTAQ_PLAYBOOKS_FILE),
	// beside the built-in offboard and contain.
	Playbooks map[string]*tasks.Playbook
	// Users reads user views (User, GET /v1/users/{ref}); nil: this
	// client cannot read users.
	Users UserReader
}

// Client enqueues actions and reads their state. It is safe for
// concurrent use.
type Client struct {
	asynq     *asynq.Client
	claims    claimRedis // under asynq
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
	if opts.ApprovalTTL <= 0 {
		opts.ApprovalTTL = tasks.DefaultApprovalTTL
	}
	claims := newClaimRedis(rc)
	return &Client{asynq: asynq.NewClientFromRedisClient(claims), claims: claims, inspector: asynq.NewInspectorFromRedisClient(rc), rc: rc, opts: opts}
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
	if c.opts.Producer == "" {
		return nil, errors.New("enqueue: Options.Producer is not set: name the producer this client enqueues as")
	}
	if a != nil && a.Base().Producer != "" && a.Base().Producer != c.opts.Producer {
		return nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "producer",
			Reason: fmt.Sprintf("is set by the client (Options.Producer %q); leave it empty", c.opts.Producer)}}}
	}
	return c.enqueueAs(ctx, c.opts.Producer, a, opts...)
}

// enqueueAs is Enqueue for producer (the API's caller).
// checkRequest normalizes and validates a as producer's request and finds
// its connection, checking the producer's bounds: what Enqueue and
// DryRunAction both refuse before anything else.
func (c *Client) checkRequest(producer string, a tasks.Args, now time.Time) (*tasks.Request, *tasks.Policy, error) {
	tasks.Normalize(a, now)
	r := a.Base()
	r.Producer = producer
	if err := tasks.Validate(a, now); err != nil {
		return nil, nil, err
	}
	conn, ok := c.Connection(r.Connection)
	if !ok {
		return nil, nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "connection",
			Reason: fmt.Sprintf("unknown connection %q; known: %s", r.ConnectionName(), strings.Join(slices.Sorted(maps.Keys(c.opts.Connections)), ", "))}}}
	}
	if err := c.opts.Producers.Authorize(producer, r.ConnectionName(), r.Requester.Role); err != nil {
		return nil, nil, err
	}
	return r, conn, nil
}

func (c *Client) enqueueAs(ctx context.Context, producer string, a tasks.Args, opts ...EnqueueOption) (*Info, error) {
	var o enqueueOptions
	for _, opt := range opts {
		opt(&o)
	}
	if a == nil {
		return nil, errors.New("enqueue: no action given")
	}
	if c.opts.Keyring == nil {
		return nil, errors.New("enqueue: Options.Keyring is required to enqueue (the workers' OKTAQ_SIGNING_KEYS)")
	}
	now := c.opts.Clock()
	a.Base().Bulk = a.Base().Bulk || o.bulk
	r, conn, err := c.checkRequest(producer, a, now)
	if err != nil {
		return nil, err
	}
	if err := conn.Authorize(a.Action(), r.Requester.Role); err != nil {
		return nil, err
	}
	if r.FollowUpOf != "" {
		return nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "follow_up_of", Reason: "is set by the worker for the removal of a time-bound access; leave it out"}}}
	}
	due := now
	switch {
	case !o.runAt.IsZero():
		due = o.runAt
	case o.after > 0:
		due = now.Add(o.after)
	}
	// An action that needs approval is due at its expiry: it runs
	// earlier only when approved (then at its own run_at, if later).
	var approval *approvalHold
	if conn.NeedsApproval(a) {
		approval = &approvalHold{expires: now.Add(c.opts.ApprovalTTL)}
		if due.After(now) {
			approval.runAt = due
		}
		due = later(due, approval.expires)
	}
	deadline, err := c.deadline(o.deadline, later(due, now))
	if err != nil {
		return nil, err
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
	queue := a.Action().Queue(r.Bulk)
	var id string
	if r.IdempotencyKey != "" {
		id = TaskID(producer, r.IdempotencyKey)
	} else {
		id = uuid.NewString() // reads crypto/rand: only when needed
	}
	env := tasks.Envelope{TaskID: id, Queue: queue, Type: typeName, Payload: payload}
	task := asynq.NewTaskWithHeaders(typeName, payload, c.opts.Keyring.Sign(env))
	aopts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(c.opts.MaxAttempts - 1),
		asynq.Timeout(AttemptTimeout), asynq.Retention(c.opts.Retention), asynq.TaskID(id)}
	if due.After(now) {
		aopts = append(aopts, asynq.ProcessAt(due))
	}
	// The claim outlives the task: it may wait until its deadline, then
	// stays readable for the retention.
	claimTTL := deadline.Sub(now) + c.opts.Retention + time.Hour
	created := false
	if approval != nil {
		if created, err = c.awaitApproval(ctx, id, approval.expires, approval.runAt, claimTTL); err != nil {
			return nil, err
		}
	}
	var info *Info
	if r.IdempotencyKey == "" {
		info, err = c.submit(ctx, task, aopts, producer)
	} else {
		info, err = c.submitKeyed(ctx, task, aopts, keyed{queue: queue, id: id, key: r.IdempotencyKey, producer: producer, ttl: claimTTL})
	}
	if created && (err != nil || info.Existing) {
		// The hold is not this request's: the id names an earlier task
		// (of another request), or nothing was enqueued.
		c.rc.Del(context.WithoutCancel(ctx), tasks.HoldKey(id))
	}
	if err == nil && approval != nil {
		if oerr := c.overlay(ctx, info); oerr != nil {
			return nil, oerr
		}
	}
	if err == nil {
		c.requestCallback(ctx, info, due) // callbacks_request.go
	}
	return info, err
}

// approvalHold is when an action awaiting approval expires, and its own
// run_at.
type approvalHold struct{ expires, runAt time.Time }

// deadline checks a producer's deadline against the action's due time
// and the configured maximum (Options.Deadline after it is due), or
// returns the default.
func (c *Client) deadline(want, due time.Time) (time.Time, error) {
	limit := due.Add(c.opts.Deadline)
	switch {
	case want.IsZero():
		return limit, nil
	case !want.After(due):
		return time.Time{}, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "deadline", Reason: "must be after the time the action is due"}}}
	case want.After(limit):
		return time.Time{}, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "deadline",
			Reason: fmt.Sprintf("is more than %s after the action is due (OKTAQ_TASK_DEADLINE); at most %s", c.opts.Deadline, limit.UTC().Format(time.RFC3339))}}}
	}
	return want, nil
}

// TaskID is the id of producer's task with idempotency key: a hash of
// both, so that one producer's key can neither find nor block another's
// task, and a caller can compute the id of its own keyed request.
func TaskID(producer, key string) string {
	h := sha256.Sum256([]byte(producer + "\x00" + key))
	return "k-" + hex.EncodeToString(h[:16])
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

// Queues returns every queue oktaq enqueues on, most urgent first.
func Queues() []string { return []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} }

// existing answers a repeated idempotency key: the task that holds it if
// it is for the same request, else ErrKeyConflict.
func (c *Client) existing(ctx context.Context, task *asynq.Task, k keyed) (*Info, error) {
	ti, err := c.taskInfo(ctx, k.queue, k.id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("%w: read task %q: %w", ErrUnavailable, k.id, err)
	}
	if !sameRequest(task.Type(), task.Payload(), ti.Type, ti.Payload) {
		return nil, fmt.Errorf("%w: key %q belongs to an earlier %s request with other fields; use a new key for a new request",
			ErrKeyConflict, k.key, strings.TrimPrefix(ti.Type, tasks.TypePrefix))
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
