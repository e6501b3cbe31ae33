package tasks

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PlaybookRunType is the asynq task type of a run's coordinator. It is not
// an action ("okta:" types are): the coordinator calls Okta only to read
// (the snapshot, the user's groups and apps) and enqueues each step as an
// action of its own.
const PlaybookRunType = "oktaq:playbook.run"

// RunRequest is the signed payload of a run's coordinator task: the
// playbook's steps as they were when the run was asked for (a changed
// playbooks file does not change a run under way), and the request every
// step is made with.
type RunRequest struct {
	Request
	// ID is the run's id: "pb-..." (see RunID).
	ID       string         `json:"id"`
	Playbook string         `json:"playbook"`
	Steps    []PlaybookStep `json:"steps"`
	// UndoOf is the run this one undoes.
	UndoOf string `json:"undo_of,omitempty"`
}

// RunState is where a run is.
type RunState string

// States of a run.
const (
	RunPending   RunState = "pending"
	RunRunning   RunState = "running"
	RunSucceeded RunState = "succeeded"
	RunPartial   RunState = "partial"
	RunFailed    RunState = "failed"
)

// Final reports whether the run has ended.
func (s RunState) Final() bool { return s == RunSucceeded || s == RunPartial || s == RunFailed }

// Step states within a run.
const (
	StepPending = "pending"
	StepActive  = "active"
	StepDone    = "done"
	StepSkipped = "skipped"
	// StepNotRun: an earlier step failed and stops the run.
	StepNotRun = "not_run"
)

// Run is a run as GET /v1/playbooks/runs/{id} answers it, kept in Redis
// by the coordinator (the API writes only the first, pending, version).
type Run struct {
	ID         string    `json:"id"`
	Playbook   string    `json:"playbook"`
	State      RunState  `json:"state"`
	Connection string    `json:"connection"`
	User       string    `json:"user"`
	UserID     string    `json:"user_id,omitempty"`
	Login      string    `json:"login,omitempty"`
	Producer   string    `json:"producer"`
	UndoOf     string    `json:"undo_of,omitempty"`
	Steps      []RunStep `json:"steps"`
	// Snapshot is what the user had before the run changed anything.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	// SnapshotMAC seals Snapshot ("kid:mac", see SealSnapshot): undo
	// trusts no snapshot without it.
	SnapshotMAC string `json:"snapshot_mac,omitempty"`
	// Failed names the steps that failed and why, for a partial or failed
	// run.
	Failed []string `json:"failed,omitempty"`
	// NotRestored says what an undo cannot bring back.
	NotRestored []string `json:"not_restored,omitempty"`
	// Deadline bounds the run as a whole: each step's action carries it
	// (never a fresh one of its own), and no step is sent after it.
	Deadline   time.Time `json:"deadline,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// RunStep is one step of a run.
type RunStep struct {
	Action Action `json:"action"`
	// ID is the step's action task id (GET /v1/actions/{id}).
	ID      string  `json:"id"`
	State   string  `json:"state"`
	Outcome Outcome `json:"outcome,omitempty"`
	// Reason says why a step was skipped or not run.
	Reason string     `json:"reason,omitempty"`
	Error  *ErrorInfo `json:"error,omitempty"`
	// Targets are the groups or apps Every resolved to; Skipped those it
	// left out, with why.
	Targets     []string     `json:"targets,omitempty"`
	Skipped     []SkipReason `json:"skipped,omitempty"`
	StatusAfter string       `json:"status_after,omitempty"`
	Items       []ItemResult `json:"items,omitempty"`
	Priority    string       `json:"priority,omitempty"`
}

// SkipReason is one group or app Every left out.
type SkipReason struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Snapshot is the user's state before a run changed anything, for undo.
type Snapshot struct {
	UserID string     `json:"user_id"`
	Login  string     `json:"login"`
	Status string     `json:"status"`
	Groups []GroupRef `json:"groups"`
	// Apps are the direct (USER) app assignments; AppsThroughGroups came
	// with a group and come back with it.
	Apps              []AppRef  `json:"apps"`
	AppsThroughGroups []AppRef  `json:"apps_through_groups,omitempty"`
	TakenAt           time.Time `json:"taken_at"`
}

// AppRef names an Okta app.
type AppRef struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// StepTaskID is the task id of step i (0-based) of a run: derived, so that
// a coordinator resuming after a crash finds the step it already enqueued
// instead of enqueuing it again.
func StepTaskID(runID string, i int) string { return runID + "-" + strconv.Itoa(i+1) }

// RunOfStep returns the run id and step index of a step task id.
func RunOfStep(taskID string) (string, int, bool) {
	if !strings.HasPrefix(taskID, RunIDPrefix) {
		return "", 0, false
	}
	i := strings.LastIndexByte(taskID, '-')
	n, err := strconv.Atoi(taskID[i+1:])
	if i < 0 || err != nil || n < 1 {
		return "", 0, false
	}
	return taskID[:i], n - 1, true
}

// RunIDPrefix starts every run id.
const RunIDPrefix = "pb-"

// UndoID is the id of the run that undoes run id.
func UndoID(id string) string { return id + "u" }

// RunKey is the Redis key of a run's state.
func RunKey(id string) string { return "oktaq:playbook:run:" + id }

// Summary says in one line how a step ended, for Run.Failed.
func (s RunStep) Summary(i int) string {
	msg := string(s.Outcome)
	if s.Error != nil {
		msg = fmt.Sprintf("%s (%s)", s.Error.Summary, s.Error.Code)
	}
	return fmt.Sprintf("step %d %s: %s", i+1, s.Action, msg)
}

// Finish sets the run's final state from its steps: succeeded when no
// step failed, failed when no step did anything else, partial otherwise.
func (r *Run) Finish(now time.Time) {
	failed, done := 0, 0
	r.Failed = nil
	for i, s := range r.Steps {
		switch {
		case s.Outcome == OutcomeFailed || s.Outcome == OutcomeRejected:
			failed++
			r.Failed = append(r.Failed, s.Summary(i))
		case s.State == StepNotRun && s.Error != nil:
			// Not run for a reason of its own (the run's deadline), not
			// because an earlier failure stopped the run.
			failed++
			r.Failed = append(r.Failed, fmt.Sprintf("step %d %s: not run: %s (%s)", i+1, s.Action, s.Error.Summary, s.Error.Code))
		case s.Outcome == OutcomePartial:
			failed++
			done++
			r.Failed = append(r.Failed, s.Summary(i))
		case s.State == StepDone:
			done++
		}
	}
	switch {
	case failed == 0:
		r.State = RunSucceeded
	case done == 0:
		r.State = RunFailed
	default:
		r.State = RunPartial
	}
	r.FinishedAt = now
}

// NewRun is a run's first state, pending, from its request.
func NewRun(rr *RunRequest, now time.Time) *Run {
	run := &Run{ID: rr.ID, Playbook: rr.Playbook, State: RunPending, Connection: rr.ConnectionName(),
		User: rr.User, Producer: rr.Producer, UndoOf: rr.UndoOf, Deadline: rr.Deadline, CreatedAt: now.UTC()}
	for i, s := range rr.Steps {
		run.Steps = append(run.Steps, RunStep{Action: s.Action, ID: StepTaskID(rr.ID, i), State: StepPending})
	}
	if rr.UndoOf != "" {
		run.NotRestored = UndoLeavesOut()
	}
	return run
}

// UndoLeavesOut is what an undo cannot restore.
func UndoLeavesOut() []string {
	return []string{
		"MFA factors: a reset cannot be undone; the user enrolls again",
		"passwords: not restored; a reset or expired password stays so",
		"sessions and OAuth tokens: cleared ones stay cleared; the user signs in again",
	}
}
