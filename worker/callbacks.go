package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// Callbacks push each state change of a producer's actions to the
// producer's URL as a Standard Webhooks delivery. A delivery is an asynq
// task of its own on QueueCallbacks, so a slow or dead receiver holds only
// its own deliveries: never an Okta action (other queues, a short timeout)
// nor another producer's deliveries (separate tasks, no shared wait).

// TypeCallback is the asynq task type of one delivery.
const TypeCallback = "oktaq:callback"

// QueueCallbacks holds the deliveries; its weight sits below critical.
const QueueCallbacks = tasks.QueueCallbacks

// DefaultCallbacksWeight is QueueCallbacks' weight beside DefaultQueues,
// and DefaultEventsWeight that of the received Okta events.
const (
	DefaultCallbacksWeight = 2
	DefaultEventsWeight    = 1
)

// callbackMaxRetry is high on purpose: a delivery ends by age
// (CallbackOptions.MaxAge), not by a count, and waiting for an earlier
// delivery of the same action does not count as a failure at all.
const callbackMaxRetry = 100000

// CallbackOptions configure deliveries to producers.
type CallbackOptions struct {
	// Endpoints by producer id; a producer not listed gets no callbacks.
	Endpoints map[string]CallbackEndpoint
	// Timeout of one delivery, connection to last header (default 10s).
	Timeout time.Duration
	// MaxAge: a delivery failing this long after it was made is given up
	// and archived (default 25h: the contract promises at least 24h).
	MaxAge time.Duration
	// Base and Cap bound the backoff between failed attempts: Base*2^n,
	// at most Cap, with jitter (defaults 5s and 1h).
	Base, Cap time.Duration
	// MaxResponseBytes of a receiver's answer are read, no more (default
	// 4 KiB); the answer is never logged.
	MaxResponseBytes int64
	// Retention keeps a delivered task visible in the dashboard (default
	// 24h).
	Retention time.Duration
	// MaxInFlight deliveries at once in one worker process (default half
	// of its concurrency, at least 1), and per producer (default half of
	// that, at least 1): the rest of the slots always serve actions, and a
	// dead receiver cannot take every delivery slot from other producers.
	MaxInFlight, MaxInFlightPerProducer int
	// Transport for the deliveries (default: a clone of
	// http.DefaultTransport). Redirects are never followed.
	Transport http.RoundTripper
}

func (o *CallbackOptions) setDefaults() {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAge == 0 {
		o.MaxAge = 25 * time.Hour
	}
	if o.Base == 0 {
		o.Base = 5 * time.Second
	}
	if o.Cap == 0 {
		o.Cap = time.Hour
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 4 << 10
	}
	if o.Retention == 0 {
		o.Retention = 24 * time.Hour
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
}

// Callback types beside action.<outcome> (tasks.Outcome).
const (
	CallbackConfirmed   = "action.confirmed"
	CallbackUnconfirmed = "action.unconfirmed"
	CallbackUserChanged = "user.changed"
)

// callbackTask is the payload of a delivery task: the exact body to send
// and what is needed to route and order it. It is signed with the task
// keyring like an action, so that only oktaq makes oktaq sign a webhook.
type callbackTask struct {
	Producer  string          `json:"producer"`
	ActionID  string          `json:"action_id"`
	Type      string          `json:"type"`
	Sequence  int64           `json:"sequence"`
	CreatedAt time.Time       `json:"created_at"`
	Body      json.RawMessage `json:"body"`
}

// CallbackBody is what a receiver gets: Standard Webhooks' type,
// timestamp, data, and the sequence number of this delivery among the
// action's deliveries (ordering key; deliveries of one action are also
// sent in that order).
type CallbackBody struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Sequence  int64     `json:"sequence"`
	Data      any       `json:"data"`
}

// ActionView is the data of an action.* delivery: the same JSON as
// GET /v1/actions/{id} (enqueue.StatusView; a test compares them).
type ActionView struct {
	ID          string        `json:"id"`
	Action      string        `json:"action"`
	State       string        `json:"state"`
	Attempts    int           `json:"attempts"`
	MaxAttempts int           `json:"max_attempts"`
	LastError   string        `json:"last_error"`
	Result      *tasks.Result `json:"result"`
}

// Redis keys; {id} hash tags keep an action's keys on one cluster slot.
func cbSeqKey(actionID string) string     { return tasks.CallbackSeqKey(actionID) }
func cbPendingKey(actionID string) string { return tasks.CallbackPendingKey(actionID) }
func cbUndeliveredKey(producer string) string {
	return "oktaq:cb:undelivered:{" + producer + "}"
}

// extendTTL: KEYS the keys (one slot), ARGV[1] a TTL (ms). Sets it on
// each key whose own is shorter or absent; never shortens (EXPIRE GT
// needs Redis 7).
var extendTTL = redis.NewScript(`
for _, k in ipairs(KEYS) do
  local t = redis.call('PTTL', k)
  if t ~= -2 and t < tonumber(ARGV[1]) then redis.call('PEXPIRE', k, ARGV[1]) end
end
return 1
`)

// callbackOut is one state to call back.
type callbackOut struct {
	producer, actionID, typ string
	// key tells apart deliveries of a type that may recur (a reminder per
	// end time); empty for the others, which go out once per action.
	key string
	// seq is the sequence number the API took, or 0: take the next.
	seq int64
	// after marks this delivery's request (an API's callback request)
	// done once the delivery is marked pending.
	after string
	// due: the action's keys live until then and CallbackKeep after.
	due  time.Time
	data any
}

// emitCallback enqueues a delivery of typ for the action to its producer,
// if that producer has a callback URL. At most one delivery of a type per
// action: the task id is derived from both, so a re-run of the recording
// step does not send the same state twice.
// hasCallbacks tells whether producer has a callback endpoint.
func (w *Worker) hasCallbacks(producer string) bool {
	if w.opts.Callbacks == nil || producer == "" {
		return false
	}
	_, ok := w.opts.Callbacks.Endpoints[producer]
	return ok
}

func (w *Worker) emitCallback(ctx context.Context, producer, actionID, typ string, data any) {
	_ = w.emitCallbackOut(ctx, callbackOut{producer: producer, actionID: actionID, typ: typ, data: data})
}

func (w *Worker) emitCallbackOut(ctx context.Context, c callbackOut) error {
	if !w.hasCallbacks(c.producer) {
		return nil
	}
	err := w.enqueueCallback(ctx, c)
	if err != nil {
		w.opts.Logger.Error("callback not enqueued", "producer", c.producer, "action_id", c.actionID, "type", c.typ, "error", err)
	}
	return err
}

func (w *Worker) enqueueCallback(ctx context.Context, c callbackOut) error {
	now := w.now().UTC()
	seq := c.seq
	if seq == 0 {
		var err error
		if seq, err = w.rdb.Incr(ctx, cbSeqKey(c.actionID)).Result(); err != nil {
			return fmt.Errorf("next sequence number: %w", err)
		}
	}
	body, err := json.Marshal(CallbackBody{Type: c.typ, Timestamp: now, Sequence: seq, Data: c.data})
	if err != nil {
		return err
	}
	payload, err := json.Marshal(callbackTask{Producer: c.producer, ActionID: c.actionID, Type: c.typ, Sequence: seq, CreatedAt: now, Body: body})
	if err != nil {
		return err
	}
	id := "cb-" + c.producer + "-" + c.actionID + "-" + strings.ReplaceAll(c.typ, ".", "-")
	if c.key != "" {
		id += "-" + c.key
	}
	keep := w.opts.Callbacks.MaxAge + w.opts.Callbacks.Retention
	if c.due.After(now) {
		keep += c.due.Sub(now)
	}
	pipe := w.rdb.Pipeline()
	pipe.ZAdd(ctx, cbPendingKey(c.actionID), redis.Z{Score: float64(seq), Member: id})
	if c.after != "" {
		pipe.ZRem(ctx, cbPendingKey(c.actionID), c.after)
	}
	// Only ever lengthen: a state called back earlier may have been due
	// later (a removal scheduled weeks ahead).
	extendTTL.Eval(ctx, pipe, []string{cbPendingKey(c.actionID), cbSeqKey(c.actionID)}, keep.Milliseconds())
	pipe.ZAdd(ctx, cbUndeliveredKey(c.producer), redis.Z{Score: float64(now.UnixMilli()), Member: id})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record pending delivery: %w", err)
	}
	task := asynq.NewTaskWithHeaders(TypeCallback, payload, w.opts.Keyring.Sign(tasks.Envelope{TaskID: id, Queue: QueueCallbacks, Type: TypeCallback, Payload: payload}))
	_, err = w.cbClient.EnqueueContext(ctx, task, asynq.Queue(QueueCallbacks), asynq.TaskID(id),
		asynq.MaxRetry(callbackMaxRetry), asynq.Retention(w.opts.Callbacks.Retention))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		// Already sent (or being sent) under this id: undo our marks.
		w.rdb.ZRem(ctx, cbPendingKey(c.actionID), id)
		return nil
	}
	if err != nil {
		w.rdb.ZRem(ctx, cbPendingKey(c.actionID), id)
		w.rdb.ZRem(ctx, cbUndeliveredKey(c.producer), id)
		return fmt.Errorf("enqueue delivery: %w", err)
	}
	return nil
}

// callbackRetryDelay is the retry delay of a delivery: an ordering wait
// polls more slowly as the delivery ages; a failure backs off
// exponentially with jitter.
func (o *CallbackOptions) retryDelay(n int, err error, createdAge time.Duration) time.Duration {
	var wait *errCallbackWait
	if errors.As(err, &wait) {
		return min(max(createdAge/4, o.Base), o.Cap/4)
	}
	d := o.Cap
	if n < 30 && o.Base<<n < o.Cap {
		d = o.Base << n
	}
	return d/2 + rand.N(d/2+1)
}

// routes is the root of the task mux: actions under "okta:" through the
// middleware chain, deliveries and checks beside it.
func (w *Worker) routes(actions *asynq.ServeMux) *asynq.ServeMux {
	root := asynq.NewServeMux()
	root.Handle("okta:", actions)
	if w.opts.Callbacks != nil {
		root.HandleFunc(TypeCallback, w.deliverCallback)
	}
	root.HandleFunc(tasks.TypeOktaEvent, w.handleOktaEvent)
	root.HandleFunc(tasks.TypeCallbackRequest, w.handleCallbackRequest)
	root.HandleFunc(TypeConfirmCheck, w.checkConfirmation)
	return root
}

// setupCallbacks prepares the delivery client; no-op without Callbacks.
func (w *Worker) setupCallbacks() {
	cb := w.opts.Callbacks
	w.cbClient = asynq.NewClientFromRedisClient(w.rdb)
	w.cbInspector = asynq.NewInspectorFromRedisClient(w.rdb)
	w.addQueue(tasks.QueueEvents, DefaultEventsWeight)
	if c := w.opts.Confirm; c != nil {
		cc := *c
		cc.setDefaults()
		w.opts.Confirm = &cc
	}
	if cb == nil {
		return
	}
	c := *cb // the caller's options stay as given
	c.setDefaults()
	if c.MaxInFlight == 0 {
		c.MaxInFlight = max(1, w.opts.Concurrency/2)
	}
	if c.MaxInFlightPerProducer == 0 {
		c.MaxInFlightPerProducer = max(1, c.MaxInFlight/2)
	}
	w.cbPer = map[string]int{}
	for p := range c.Endpoints {
		for _, o := range callbackOutcomes {
			w.metrics.callbacks.WithLabelValues(p, o)
		}
	}
	cb, w.opts.Callbacks = &c, &c
	w.cbHTTP = &http.Client{Transport: cb.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	w.addQueue(QueueCallbacks, DefaultCallbacksWeight)
}

// addQueue serves the queue at weight unless the configuration names it.
func (w *Worker) addQueue(name string, weight int) {
	if _, ok := w.opts.Queues[name]; ok {
		return
	}
	q := make(map[string]int, len(w.opts.Queues)+1)
	for k, v := range w.opts.Queues {
		q[k] = v
	}
	q[name] = weight
	w.opts.Queues = q
}

// handleCallbackRequest is tasks.TypeCallbackRequest: a state reached at
// enqueue (scheduled for later, awaiting approval) is called back like
// any other, under the sequence number the API took; the request's own
// pending mark, which held later deliveries back, gives way to the
// delivery's.
func (w *Worker) handleCallbackRequest(ctx context.Context, t *asynq.Task) error {
	if err := w.verifyTask(ctx, t); err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	var cr tasks.CallbackRequest
	if err := json.Unmarshal(t.Payload(), &cr); err != nil {
		return fmt.Errorf("callback request: %w: %w", err, asynq.SkipRetry)
	}
	if w.opts.Callbacks == nil {
		return nil
	}
	view, err := w.currentView(cr.Queue, cr.ActionID)
	if err != nil {
		return err
	}
	// The view as it was when the state was reached: a worker may pick
	// the request up after the action moved on (a cancel woke it), and
	// what came next has its own delivery.
	view.State, view.Result, view.LastError, view.Attempts = strings.TrimPrefix(cr.Type, "action."), nil, "", 0
	id, _ := asynq.GetTaskID(ctx)
	// A failed enqueue is retried (the request's MaxRetry): at least once.
	return w.emitCallbackOut(ctx, callbackOut{producer: cr.Producer, actionID: cr.ActionID, typ: cr.Type,
		seq: cr.Sequence, after: id, due: cr.Due, data: view})
}
