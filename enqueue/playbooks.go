package enqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// RunRequest asks for a playbook run (POST /v1/playbooks/{name}/runs).
type RunRequest struct {
	User           string          `json:"user"`
	Connection     string          `json:"connection,omitempty"`
	Requester      tasks.Requester `json:"requester"`
	Ticket         tasks.Ticket    `json:"ticket,omitzero"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	DryRun         bool            `json:"dry_run,omitempty"`
}

// Planner makes dry runs: it reads Okta (through the limiter) and sends
// nothing. cmd wires *okta.Executor's Plan, per connection; enqueue does
// not import the Okta SDK.
type Planner interface {
	Plan(ctx context.Context, pr tasks.PlanRequest) (*tasks.Plan, error)
}

// ErrNoPlanner: a dry run was asked for a connection this process cannot
// read Okta for.
var ErrNoPlanner = errors.New("dry runs need Okta credentials for the connection in this process")

// Playbook returns a playbook by name: built-in, or from Options.Playbooks.
func (c *Client) Playbook(name string) (*tasks.Playbook, bool) {
	if p, ok := c.opts.Playbooks[name]; ok {
		return p, true
	}
	p, ok := tasks.BuiltinPlaybooks()[name]
	return p, ok
}

// PlaybookNames lists the playbooks this client knows.
func (c *Client) PlaybookNames() []string {
	all := tasks.BuiltinPlaybooks()
	maps.Copy(all, c.opts.Playbooks)
	return slices.Sorted(maps.Keys(all))
}

// runRequest checks a run request as Enqueue checks an action, step by
// step (each step's role and scope against the connection's policy), and
// builds the signed payload's content.
func (c *Client) runRequest(producer, name string, req RunRequest) (*tasks.RunRequest, map[int]*tasks.ErrorInfo, error) {
	pb, ok := c.Playbook(name)
	if !ok {
		return nil, nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "name",
			Reason: fmt.Sprintf("unknown playbook %q; known: %s", name, strings.Join(c.PlaybookNames(), ", "))}}}
	}
	return c.runRequestFor(producer, pb.Name, pb.Steps, req)
}

func (c *Client) runRequestFor(producer, name string, steps []tasks.PlaybookStep, req RunRequest) (*tasks.RunRequest, map[int]*tasks.ErrorInfo, error) {
	now := c.opts.Clock()
	// The run is bounded as a whole (Options.Deadline, as one action is):
	// every step inherits this deadline.
	r := tasks.Request{Version: tasks.PayloadVersion, Connection: req.Connection, User: req.User, Requester: req.Requester,
		Ticket: req.Ticket, IdempotencyKey: req.IdempotencyKey, RequestedAt: now.UTC(), Producer: producer,
		Deadline: now.Add(c.opts.Deadline).UTC()}
	conn, ok := c.Connection(r.Connection)
	if !ok {
		return nil, nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "connection",
			Reason: fmt.Sprintf("unknown connection %q; known: %s", r.ConnectionName(), strings.Join(slices.Sorted(maps.Keys(c.opts.Connections)), ", "))}}}
	}
	if err := c.opts.Producers.Authorize(producer, r.ConnectionName(), r.Requester.Role); err != nil {
		return nil, nil, err
	}
	refused := map[int]*tasks.ErrorInfo{}
	var firstRefusal error
	for i, s := range steps {
		args, err := s.WithTargets([]string{"placeholder"}).Args(r)
		if err == nil {
			err = tasks.Validate(args, now)
		}
		var ve *tasks.ValidationError
		if errors.As(err, &ve) {
			// The request's own fields (user, requester...) are wrong:
			// name them as the request's, not a step's.
			return nil, nil, err
		} else if err != nil {
			return nil, nil, err
		}
		if err := conn.Authorize(s.Action, r.Requester.Role); err != nil {
			var na *tasks.NotAllowedError
			errors.As(err, &na)
			refused[i] = &tasks.ErrorInfo{Code: na.Code(), Summary: fmt.Sprintf("step %d: %s", i+1, na.Error()), Scope: na.Scope}
			if firstRefusal == nil {
				firstRefusal = err
			}
		}
	}
	rr := &tasks.RunRequest{Request: r, Playbook: name, Steps: steps}
	if req.IdempotencyKey != "" {
		h := sha256.Sum256([]byte(producer + "\x00playbook\x00" + req.IdempotencyKey))
		rr.ID = tasks.RunIDPrefix + hex.EncodeToString(h[:16])
	} else {
		rr.ID = tasks.RunIDPrefix + strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	if !req.DryRun && firstRefusal != nil {
		return nil, nil, firstRefusal
	}
	return rr, refused, nil
}

// StartPlaybook starts a run of the named playbook for one user, or
// answers its dry run (req.DryRun, with planner). A repeated idempotency
// key returns the existing run (Existing set) when it is for the same
// playbook and user, else ErrKeyConflict. A step the requester's role or
// the connection's scopes do not allow refuses the whole run before
// anything is enqueued (*tasks.NotAllowedError naming the step).
func (c *Client) StartPlaybook(ctx context.Context, name string, req RunRequest) (*tasks.Run, bool, error) {
	return c.startPlaybookAs(ctx, c.opts.Producer, name, req)
}

func (c *Client) startPlaybookAs(ctx context.Context, producer, name string, req RunRequest) (*tasks.Run, bool, error) {
	if c.opts.Keyring == nil {
		return nil, false, errors.New("enqueue: Options.Keyring is required to start a playbook run")
	}
	rr, _, err := c.runRequest(producer, name, req)
	if err != nil {
		return nil, false, err
	}
	return c.submitRun(ctx, rr)
}

// DryRun answers what a run of the playbook would do now, changing nothing.
func (c *Client) DryRun(ctx context.Context, planner Planner, producer, name string, req RunRequest) (*tasks.Plan, error) {
	req.DryRun = true
	rr, refused, err := c.runRequest(producer, name, req)
	if err != nil {
		return nil, err
	}
	if planner == nil {
		return nil, ErrNoPlanner
	}
	return planner.Plan(ctx, tasks.PlanRequest{Request: rr.Request, Playbook: name, Steps: rr.Steps, Snapshot: true, Refused: refused})
}

func (c *Client) submitRun(ctx context.Context, rr *tasks.RunRequest) (*tasks.Run, bool, error) {
	run := tasks.NewRun(rr, rr.RequestedAt)
	b, err := json.Marshal(run)
	if err != nil {
		return nil, false, err
	}
	won, err := c.rc.SetNX(ctx, tasks.RunKey(rr.ID), b, c.opts.Retention).Result()
	if err != nil {
		return nil, false, fmt.Errorf("%w: record playbook run: %w", ErrUnavailable, err)
	}
	if !won {
		held, err := c.Run(ctx, rr.Producer, rr.ID)
		if err != nil {
			return nil, false, err
		}
		if held.Playbook != rr.Playbook || held.User != rr.User || held.Connection != rr.ConnectionName() {
			return nil, false, fmt.Errorf("%w: key %q belongs to an earlier run of %s for %s; use a new key for a new request",
				ErrKeyConflict, rr.IdempotencyKey, held.Playbook, held.User)
		}
		return held, true, nil
	}
	payload, err := json.Marshal(rr)
	if err != nil {
		return nil, false, err
	}
	env := tasks.Envelope{TaskID: rr.ID, Queue: tasks.QueueCritical, Type: tasks.PlaybookRunType, Payload: payload}
	task := asynq.NewTaskWithHeaders(tasks.PlaybookRunType, payload, c.opts.Keyring.Sign(env))
	// The coordinator returns "pending" while a step runs and comes back
	// later: its retries are its polls, so it may have many.
	_, err = c.asynq.EnqueueContext(ctx, task, asynq.Queue(tasks.QueueCritical), asynq.TaskID(rr.ID),
		asynq.MaxRetry(1<<20), asynq.Timeout(AttemptTimeout), asynq.Retention(c.opts.Retention))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		c.rc.Del(ctx, tasks.RunKey(rr.ID))
		return nil, false, fmt.Errorf("%w: enqueue playbook run: %w", ErrUnavailable, err)
	}
	return run, false, nil
}

// Run reads a run; only the producer that started it may.
func (c *Client) Run(ctx context.Context, producer, id string) (*tasks.Run, error) {
	b, err := c.rc.Get(ctx, tasks.RunKey(id)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("%w: read playbook run: %w", ErrUnavailable, err)
	}
	var run tasks.Run
	if err := json.Unmarshal(b, &run); err != nil {
		return nil, fmt.Errorf("playbook run %s: unreadable state: %w", id, err)
	}
	if run.Producer != producer {
		return nil, ErrNotFound
	}
	return &run, nil
}

// ErrSnapshotNotVerified: the run's snapshot does not carry a valid seal
// of the signing keyring (changed in Redis, or moved from another run);
// undo restores nothing from it. It wraps tasks.ErrSignature.
var ErrSnapshotNotVerified = errors.New("the run's snapshot does not verify; undo restores nothing from it")

// ErrRunNotDone: an undo was asked for a run that has not ended.
var ErrRunNotDone = errors.New("the run has not ended; undo it when it has")

// Undo starts the run that restores what run id changed, from its
// snapshot: the status back (unsuspend a user who was ACTIVE), the
// OKTA_GROUPs re-added and the direct app assignments made again. Factors,
// passwords, sessions and tokens cannot be restored (Run.NotRestored). The
// undo's id is derived from the run's, so asking twice is one undo.
func (c *Client) Undo(ctx context.Context, producer, id string, requester tasks.Requester, ticket tasks.Ticket) (*tasks.Run, bool, error) {
	run, err := c.Run(ctx, producer, id)
	if err != nil {
		return nil, false, err
	}
	if !run.State.Final() || run.Snapshot == nil {
		return nil, false, ErrRunNotDone
	}
	if c.opts.Keyring == nil {
		return nil, false, errors.New("enqueue: Options.Keyring is required to undo a playbook run")
	}
	if err := c.opts.Keyring.VerifySnapshot(run); err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrSnapshotNotVerified, err)
	}
	steps := UndoSteps(run.Snapshot)
	req := RunRequest{User: run.Snapshot.UserID, Connection: run.Connection, Requester: requester, Ticket: ticket}
	rr, _, err := c.runRequestFor(producer, "undo", steps, req)
	if err != nil {
		return nil, false, err
	}
	rr.ID, rr.UndoOf = tasks.UndoID(id), id
	return c.submitRun(ctx, rr)
}

// UndoSteps are the steps that bring a user back to snap, each a no-op
// where nothing changed.
func UndoSteps(snap *tasks.Snapshot) []tasks.PlaybookStep {
	var steps []tasks.PlaybookStep
	if snap.Status == "ACTIVE" {
		steps = append(steps, tasks.PlaybookStep{Action: tasks.ActionUnsuspend, OnFailure: tasks.OnFailureContinue})
	}
	var groups, apps []string
	for _, g := range snap.Groups {
		if g.Type == "OKTA_GROUP" {
			groups = append(groups, g.ID)
		}
	}
	for _, a := range snap.Apps {
		apps = append(apps, a.ID)
	}
	if len(groups) > 0 {
		steps = append(steps, tasks.PlaybookStep{Action: tasks.ActionUpdateGroups, Groups: &tasks.GroupChanges{Add: groups}, OnFailure: tasks.OnFailureContinue})
	}
	if len(apps) > 0 {
		steps = append(steps, tasks.PlaybookStep{Action: tasks.ActionUpdateApps, Apps: &tasks.AppChanges{Assign: apps}, OnFailure: tasks.OnFailureContinue})
	}
	return steps
}
