package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// A playbook run's coordinator: one task (id = run id, critical queue)
// that is processed once per step. Each time it reads the run's state from
// Redis, takes the snapshot if none is taken, enqueues the next step as an
// ordinary signed action whose task id is derived from the run id and the
// step's index, and returns "pending"; asynq brings it back after
// PlaybookPoll, or at once when the step ends (dispatch wakes it). A
// coordinator that dies anywhere is retried and finds the step it already
// enqueued by its id: a done step is read, never sent again.

// stepPending is the coordinator's "not yet": the current step has not
// ended. It is no failure and spends no attempt.
type stepPending struct{ step int }

func (e *stepPending) Error() string { return fmt.Sprintf("playbook step %d not ended yet", e.step+1) }

// playbookReader is what a coordinator needs of an executor besides
// Execute; *okta.Executor has it.
type playbookReader interface {
	Snapshot(ctx context.Context, user string) (*tasks.Snapshot, error)
	ResolveTargets(ctx context.Context, step tasks.PlaybookStep, uid string) ([]string, []tasks.SkipReason, error)
}

// dispatch routes a run's coordinator to runPlaybook and every action to
// the middleware chain; when a playbook step's task returns, it wakes its
// run's coordinator.
func (w *Worker) dispatch(ctx context.Context, t *asynq.Task) error {
	if t.Type() == tasks.PlaybookRunType {
		return w.runPlaybook(ctx, t)
	}
	err := w.mux.ProcessTask(ctx, t)
	if id, ok := asynq.GetTaskID(ctx); ok {
		if run, _, ok := tasks.RunOfStep(id); ok {
			// The result is written; the coordinator waits in retry.
			_ = w.inspector.RunTask(tasks.QueueCritical, run)
		}
	}
	return err
}

func (w *Worker) hook(event string, step int) {
	if w.opts.PlaybookHook != nil {
		w.opts.PlaybookHook(event, step)
	}
}

func (w *Worker) runPlaybook(ctx context.Context, t *asynq.Task) error {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	env := tasks.Envelope{TaskID: id, Queue: queue, Type: t.Type(), Payload: t.Payload()}
	if err := w.opts.Keyring.Verify(env, t.Headers()); err != nil {
		w.opts.Logger.Warn("audit", "decision", "refused", "task_id", id, "code", tasks.CodeSignature, "error", err.Error())
		return fmt.Errorf("playbook run %s: %w: %w", id, err, asynq.SkipRetry)
	}
	var rr tasks.RunRequest
	if err := json.Unmarshal(t.Payload(), &rr); err != nil || rr.ID != id {
		return fmt.Errorf("playbook run %s: unreadable request: %w", id, asynq.SkipRetry)
	}
	run, err := w.loadRun(ctx, &rr)
	if err != nil {
		return err
	}
	if run.State.Final() {
		w.runEnded(ctx, run) // again, if a crash came between the end and its callback
		return nil
	}
	fail := func(info *tasks.ErrorInfo) error {
		for i := range run.Steps {
			if run.Steps[i].State == tasks.StepPending {
				run.Steps[i].State, run.Steps[i].Reason = tasks.StepNotRun, info.Summary
			}
		}
		run.State, run.FinishedAt = tasks.RunFailed, w.now()
		run.Failed = append(run.Failed, fmt.Sprintf("run: %s (%s)", info.Summary, info.Code))
		if err := w.saveRun(ctx, run); err != nil {
			return err
		}
		w.runEnded(ctx, run)
		return nil
	}
	if err := w.opts.Producers.Authorize(rr.Producer, rr.ConnectionName(), rr.Requester.Role); err != nil {
		var pn *tasks.ProducerNotAllowedError
		errors.As(err, &pn)
		return fail(&tasks.ErrorInfo{Code: pn.Code(), Summary: err.Error()})
	}
	conn, ok := w.opts.Connections[rr.ConnectionName()]
	if !ok {
		return fail(&tasks.ErrorInfo{Code: tasks.CodeUnknownConnection, Summary: fmt.Sprintf("connection %q is not configured on this worker", rr.ConnectionName())})
	}
	reader, ok := conn.Exec.(playbookReader)
	if !ok {
		return fail(&tasks.ErrorInfo{Code: tasks.CodeClient, Summary: "this connection's executor cannot read snapshots"})
	}
	// Containment first: the coordinator's reads go at critical priority.
	ctx = ratelimit.WithPriority(ctx, ratelimit.PriorityCritical)
	if run.Snapshot == nil {
		snap, err := reader.Snapshot(ctx, rr.User)
		if err != nil {
			var perm *okta.PermanentError
			if errors.As(err, &perm) {
				return fail(okta.ErrorInfo(err))
			}
			return err
		}
		run.Snapshot, run.UserID, run.Login, run.State = snap, snap.UserID, snap.Login, tasks.RunRunning
		if err := w.opts.Keyring.SealSnapshot(run); err != nil {
			return err
		}
		if err := w.saveRun(ctx, run); err != nil {
			return err
		}
		w.hook("snapshot", -1)
	}
	status := run.Snapshot.Status
	deadline := w.runDeadline(&rr, run)
	for i := range run.Steps {
		st := &run.Steps[i]
		def := rr.Steps[i]
		switch st.State {
		case tasks.StepDone, tasks.StepSkipped, tasks.StepNotRun:
			if st.StatusAfter != "" {
				status = st.StatusAfter
			}
			continue
		case tasks.StepPending:
			if !w.now().Before(deadline) {
				w.pastDeadline(run, i, deadline)
				continue
			}
			if err := w.startStep(ctx, reader, &rr, run, i, status, deadline); err != nil {
				return err
			}
			if st.State == tasks.StepSkipped {
				continue
			}
		}
		ended, err := w.stepEnded(ctx, st, def.Action)
		if err != nil {
			return err
		}
		if !ended {
			return &stepPending{step: i}
		}
		w.hook("step-ended", i)
		if st.StatusAfter == "" {
			st.StatusAfter = okta.StatusAfter(st.Action, status)
		}
		status = st.StatusAfter
		if (st.Outcome == tasks.OutcomeFailed || st.Outcome == tasks.OutcomeRejected) && !def.Continues() {
			for j := i + 1; j < len(run.Steps); j++ {
				run.Steps[j].State = tasks.StepNotRun
				run.Steps[j].Reason = fmt.Sprintf("step %d (%s) failed and stops the run (on_failure: stop)", i+1, st.Action)
			}
		}
		if err := w.saveRun(ctx, run); err != nil {
			return err
		}
	}
	run.Finish(w.now())
	w.opts.Logger.Info("audit", "decision", "playbook_run", "run_id", run.ID, "playbook", run.Playbook,
		"state", run.State, "user", rr.User, "login", run.Login, "producer", rr.Producer,
		"requester", rr.Requester.ID, "ticket", rr.Ticket.ID)
	if err := w.saveRun(ctx, run); err != nil {
		return err
	}
	w.runEnded(ctx, run)
	return nil
}

// startStep decides whether step i is sent (StepSkip, Every resolved to
// nothing) and, if so, enqueues it as a signed action with its derived id.
func (w *Worker) startStep(ctx context.Context, reader playbookReader, rr *tasks.RunRequest, run *tasks.Run, i int, status string, deadline time.Time) error {
	st, def := &run.Steps[i], rr.Steps[i]
	if reason := okta.StepSkip(def.Action, status); reason != "" {
		st.State, st.Reason, st.StatusAfter = tasks.StepSkipped, reason, status
		return w.saveRun(ctx, run)
	}
	targets, skipped, err := reader.ResolveTargets(ratelimit.WithPriority(ctx, okta.StepPriority(def.Action)), def, run.Snapshot.UserID)
	if err != nil {
		return err
	}
	st.Targets, st.Skipped = targets, skipped
	if (def.EveryGroup() || def.EveryApp()) && len(targets) == 0 {
		st.State, st.Reason, st.StatusAfter = tasks.StepSkipped, okta.NothingToChange(def), status
		return w.saveRun(ctx, run)
	}
	now := w.now()
	r := rr.Request
	r.User, r.IdempotencyKey, r.RequestedAt, r.Deadline = run.Snapshot.UserID, "", now.UTC(), deadline.UTC()
	r.Version, r.Bulk = tasks.PayloadVersion, false
	args, err := def.WithTargets(targets).Args(r)
	if err == nil {
		err = tasks.Validate(args, now)
	}
	if err != nil {
		st.State, st.Outcome = tasks.StepDone, tasks.OutcomeRejected
		st.Error = &tasks.ErrorInfo{Code: tasks.CodeInvalid, Summary: err.Error()}
		return w.saveRun(ctx, run)
	}
	payload, err := tasks.Marshal(args)
	if err != nil {
		return err
	}
	queue := def.Action.Queue(false)
	env := tasks.Envelope{TaskID: st.ID, Queue: queue, Type: def.Action.TypeName(), Payload: payload}
	task := asynq.NewTaskWithHeaders(env.Type, payload, w.opts.Keyring.Sign(env))
	_, err = w.client.EnqueueContext(ctx, task, asynq.Queue(queue), asynq.TaskID(st.ID),
		asynq.MaxRetry(tasks.DefaultMaxAttempts-1), asynq.Timeout(10*time.Minute), asynq.Retention(tasks.DefaultResultRetention))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue playbook step %d: %w", i+1, err)
	}
	// A conflict is this step enqueued before a crash: it is not sent again.
	w.hook("step-enqueued", i)
	st.State, st.Priority = tasks.StepActive, okta.StepPriority(def.Action).String()
	return w.saveRun(ctx, run)
}

// runDeadline is the run's deadline: the one it was asked with, or (a run
// asked for before runs had one) its creation plus TaskDeadline.
func (w *Worker) runDeadline(rr *tasks.RunRequest, run *tasks.Run) time.Time {
	if !rr.Deadline.IsZero() {
		return rr.Deadline
	}
	return run.CreatedAt.Add(w.opts.TaskDeadline)
}

// pastDeadline marks step i not run: the run's deadline has passed. A
// step already sent carries the same deadline and is given up by the
// action's own deadline check.
func (w *Worker) pastDeadline(run *tasks.Run, i int, deadline time.Time) {
	st := &run.Steps[i]
	st.State = tasks.StepNotRun
	st.Reason = fmt.Sprintf("the run's deadline (%s) passed before this step was due", deadline.UTC().Format(time.RFC3339))
	st.Error = &tasks.ErrorInfo{Code: tasks.CodeDeadlineExceeded, Summary: st.Reason}
}

// stepEnded reads the step's task: ended once its result is written (a
// result is written only for a final outcome).
func (w *Worker) stepEnded(_ context.Context, st *tasks.RunStep, a tasks.Action) (bool, error) {
	ti, err := w.inspector.GetTaskInfo(a.Queue(false), st.ID)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		st.State, st.Outcome = tasks.StepDone, tasks.OutcomeFailed
		st.Error = &tasks.ErrorInfo{Code: tasks.CodeNotFound, Summary: "the step's task is gone (its retention ended) before its outcome was read"}
		return true, nil
	case err != nil:
		return false, err
	}
	if len(ti.Result) == 0 {
		if ti.State == asynq.TaskStateArchived || ti.State == asynq.TaskStateCompleted {
			st.State, st.Outcome = tasks.StepDone, tasks.OutcomeFailed
			st.Error = &tasks.ErrorInfo{Code: tasks.CodeTransient, Summary: "the step ended without a result: " + ti.LastErr}
			return true, nil
		}
		return false, nil
	}
	var res tasks.Result
	if err := json.Unmarshal(ti.Result, &res); err != nil {
		return false, fmt.Errorf("step %s: unreadable result: %w", st.ID, err)
	}
	st.State, st.Outcome, st.Error, st.Items = tasks.StepDone, res.Outcome, res.Error, res.Items
	st.StatusAfter = res.Okta.StatusAfter
	if res.Detail != nil && st.Reason == "" {
		st.Reason = res.Detail.Reason
	}
	return true, nil
}

// loadRun reads the run's state, or starts it from the request.
func (w *Worker) loadRun(ctx context.Context, rr *tasks.RunRequest) (*tasks.Run, error) {
	b, err := w.rdb.Get(ctx, tasks.RunKey(rr.ID)).Bytes()
	var run tasks.Run
	switch {
	case errors.Is(err, redis.Nil):
		run = *tasks.NewRun(rr, w.now())
	case err != nil:
		return nil, fmt.Errorf("read playbook run %s: %w", rr.ID, err)
	default:
		if err := json.Unmarshal(b, &run); err != nil || len(run.Steps) != len(rr.Steps) {
			return nil, fmt.Errorf("playbook run %s: unreadable state: %w", rr.ID, asynq.SkipRetry)
		}
	}
	return &run, nil
}

func (w *Worker) saveRun(ctx context.Context, run *tasks.Run) error {
	b, err := json.Marshal(run)
	if err != nil {
		return err
	}
	if err := w.rdb.Set(ctx, tasks.RunKey(run.ID), b, tasks.DefaultResultRetention).Err(); err != nil {
		return fmt.Errorf("save playbook run %s: %w", run.ID, err)
	}
	return nil
}
