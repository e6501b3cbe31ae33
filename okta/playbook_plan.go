package okta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"

	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// The dry run runs the executor's own code with one difference: the
// transport sends reads (through the limiter, like any call) and answers
// writes itself, as Okta answers a success, without sending them. So the
// plan's calls, its no-op decisions, its refusals by provider and scope
// are the executor's, not a second copy of its rules. What only Okta
// decides when the write arrives (a lifecycle call from a status Okta
// refuses) comes from StepSkip, the one table the coordinator uses too.
// issue 15's availability.go decides the same for the user view; StepSkip
// is where the two can merge.

type dryLog struct {
	mu    sync.Mutex
	calls []tasks.PlannedCall
}

type dryKey struct{}

func withDry(ctx context.Context, d *dryLog) context.Context {
	return context.WithValue(ctx, dryKey{}, d)
}

func dryFrom(ctx context.Context) *dryLog { d, _ := ctx.Value(dryKey{}).(*dryLog); return d }

func (d *dryLog) add(c tasks.PlannedCall) {
	d.mu.Lock()
	d.calls = append(d.calls, c)
	d.mu.Unlock()
}

func (d *dryLog) since(n int) []tasks.PlannedCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]tasks.PlannedCall{}, d.calls[n:]...)
}

func (d *dryLog) len() int { d.mu.Lock(); defer d.mu.Unlock(); return len(d.calls) }

// dryAnswer logs the call; for a write it returns the answer Okta gives a
// success (204 to DELETE, 200 {} otherwise) and the call record.
func dryAnswer(d *dryLog, req *http.Request, rec *recorder) *http.Response {
	bucket := ratelimit.BucketFor(req.Method, req.URL.Path)
	write := req.Method != http.MethodGet
	d.add(tasks.PlannedCall{Method: req.Method, Path: req.URL.Path, Bucket: bucket, Write: write})
	if !write {
		return nil
	}
	status, body := http.StatusOK, []byte("{}")
	if req.Method == http.MethodDelete {
		status, body = http.StatusNoContent, nil
	}
	rec.add(&call{Method: req.Method, Path: req.URL.Path, Bucket: bucket, Status: status, body: body})
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}
}

// StepSkip says why a step is not sent for a user in status (as the run
// would leave it), or "" to send it: these are the lifecycle calls Okta
// refuses from that status, or that have nothing to act on. A status the
// action already holds is not skipped: the executor reports it as no_op.
func StepSkip(a tasks.Action, status string) string {
	switch a {
	case tasks.ActionSuspend:
		if status != statusActive && status != statusSuspended {
			return fmt.Sprintf("Okta suspends only ACTIVE users; the user is %s", status)
		}
	case tasks.ActionUnsuspend:
		if status == statusStaged || status == statusProvisioned || status == statusDeprovisioned {
			return fmt.Sprintf("Okta unsuspends only SUSPENDED users; the user is %s", status)
		}
	case tasks.ActionClearSessions:
		switch status {
		case statusStaged:
			return "the user is STAGED: never activated, so no session to clear"
		case statusDeprovisioned:
			return "the user is DEPROVISIONED: Okta ended their sessions when it deactivated them"
		}
	case tasks.ActionResetMFA:
		if status == statusStaged || status == statusDeprovisioned {
			return fmt.Sprintf("the user is %s: Okta resets factors only of activated users, and there are none to reset", status)
		}
	}
	return ""
}

// StatusAfter is the status a step leaves when its result names none.
func StatusAfter(a tasks.Action, before string) string {
	switch {
	case a == tasks.ActionSuspend && before == statusActive:
		return statusSuspended
	case a == tasks.ActionUnsuspend && before == statusSuspended:
		return statusActive
	case a == tasks.ActionDeactivate:
		return statusDeprovisioned
	}
	return before
}

// StepPriority is the limiter priority of a playbook step: critical for
// security actions (suspend, clear sessions, reset MFA, deactivate), as
// on the critical queue.
func StepPriority(a tasks.Action) ratelimit.Priority {
	if a.Critical() {
		return ratelimit.PriorityCritical
	}
	return ratelimit.PriorityDefault
}

// Plan is the dry run of pr: nothing is changed. The reads are made at
// each step's priority through the limiter; the writes are listed. Its
// calls are those the run would make now, in order: a later change in
// Okta (another admin, a group added) changes the run's.
func (e *Executor) Plan(ctx context.Context, pr tasks.PlanRequest) (*tasks.Plan, error) {
	d := &dryLog{}
	ctx = withDry(ctx, d)
	plan := &tasks.Plan{DryRun: true, Playbook: pr.Playbook, Connection: e.conn.Name, User: pr.User, Steps: []tasks.PlanStep{}}
	uid, status := pr.User, ""
	if pr.Snapshot {
		ps := tasks.PlanStep{Would: "read", Priority: ratelimit.PriorityCritical.String()}
		snap, err := e.Snapshot(ratelimit.WithPriority(ctx, ratelimit.PriorityCritical), pr.User)
		ps.Calls = d.since(0)
		ps.Budget = e.shares(ctx, ps.Calls, ratelimit.PriorityCritical)
		plan.Snapshot = &ps
		if err != nil {
			plan.Error = ErrorInfo(err)
			return e.total(ctx, plan), nil
		}
		uid, status = snap.UserID, snap.Status
		plan.UserID, plan.Login, plan.Status = snap.UserID, snap.Login, snap.Status
	} else {
		// A single action reads the user itself; its status decides
		// StepSkip here (this read is the dry run's own, not listed).
		u, err := e.getUser(withRecorder(context.WithValue(ctx, dryKey{}, (*dryLog)(nil)), &recorder{}), pr.User)
		if err != nil {
			plan.Error = ErrorInfo(err)
			return e.total(ctx, plan), nil
		}
		status = u.Status
		plan.UserID, plan.Login, plan.Status = u.ID, u.Profile.Login, u.Status
	}
	for i, s := range pr.Steps {
		prio := StepPriority(s.Action)
		sctx := ratelimit.WithPriority(ctx, prio)
		ps := tasks.PlanStep{Action: s.Action, Priority: prio.String()}
		n := d.len()
		e.planStep(sctx, &ps, pr, i, s, uid, status)
		ps.Calls = d.since(n)
		ps.Budget = e.shares(ctx, ps.Calls, prio)
		if ps.StatusAfter != "" {
			status = ps.StatusAfter
		}
		plan.Steps = append(plan.Steps, ps)
	}
	return e.total(ctx, plan), nil
}

func (e *Executor) planStep(ctx context.Context, ps *tasks.PlanStep, pr tasks.PlanRequest, i int, s tasks.PlaybookStep, uid, status string) {
	if r := pr.Refused[i]; r != nil {
		ps.Would, ps.Refused = "refused", r
		return
	}
	reason := StepSkip(s.Action, status)
	refusal := statusRefusal(s.Action, status, reason)
	if reason != "" && (pr.Snapshot || refusal == nil) {
		// A run skips the step; a single action with nothing to act on
		// (clear sessions of a STAGED user) is listed the same way.
		ps.Would, ps.Reason, ps.StatusAfter = "skipped", reason, status
		return
	}
	if refusal != nil {
		// A single action is sent even so, and Okta refuses it: its calls
		// are listed, and the plan says how it would fail.
		defer func() { ps.Would, ps.Refused, ps.Items, ps.StatusAfter = "failed", refusal, nil, status }()
	}
	targets, skipped, err := e.ResolveTargets(ctx, s, uid)
	ps.Targets, ps.Skipped = targets, skipped
	if err != nil {
		ps.Would, ps.Refused = "failed", ErrorInfo(err)
		return
	}
	if (s.EveryGroup() || s.EveryApp()) && len(targets) == 0 {
		ps.Would, ps.Reason, ps.StatusAfter = "skipped", NothingToChange(s), status
		return
	}
	r := pr.Request
	r.User = uid
	args, err := s.WithTargets(targets).Args(r)
	if err != nil {
		ps.Would, ps.Refused = "refused", ErrorInfo(&PermanentError{Code: tasks.CodeInvalid, Summary: err.Error()})
		return
	}
	res, err := e.Execute(ctx, args)
	if d := dryFrom(ctx); refusal != nil && d != nil && res.UserID != "" {
		// Refused for the user's state, the executor reads the user once
		// more (afterConflict: another action may have got there first).
		path := "/api/v1/users/" + res.UserID
		d.add(tasks.PlannedCall{Method: http.MethodGet, Path: path, Bucket: ratelimit.BucketFor(http.MethodGet, path)})
	}
	ps.Items = res.Items
	if res.Detail != nil {
		ps.Reason = res.Detail.Reason
	}
	ps.StatusAfter = orText(res.Okta.StatusAfter, StatusAfter(s.Action, status))
	if err != nil {
		ps.Would, ps.Refused = "refused", ErrorInfo(err)
		var p *PermanentError
		if !errors.As(err, &p) {
			ps.Would = "failed"
		}
		return
	}
	ps.Would = string(res.Outcome)
	if res.Error != nil {
		ps.Refused = res.Error
	}
}

// statusRefusal is the error Okta answers a lifecycle call StepSkip
// names (reason), for the calls whose answer is known: suspend and
// unsuspend (E0000001), reset MFA (E0000038); nil otherwise.
func statusRefusal(a tasks.Action, status, reason string) *tasks.ErrorInfo {
	if reason == "" {
		return nil
	}
	switch a {
	case tasks.ActionSuspend, tasks.ActionUnsuspend:
		return &tasks.ErrorInfo{Code: "E0000001", Summary: reason, Hint: validationHint(a, status)}
	case tasks.ActionResetMFA:
		return &tasks.ErrorInfo{Code: "E0000038", Summary: reason, Hint: wrongStatusHint(a, status)}
	}
	return nil
}

// NothingToChange is why an Every step found nothing to do.
func NothingToChange(s tasks.PlaybookStep) string {
	if s.EveryApp() {
		return "the user has no app assigned directly"
	}
	return "the user is in no Okta group (OKTA_GROUP)"
}

// shares sums calls per bucket against the limiter's last known figures.
func (e *Executor) shares(ctx context.Context, calls []tasks.PlannedCall, p ratelimit.Priority) []tasks.BucketShare {
	count := map[string]int{}
	for _, c := range calls {
		count[c.Bucket]++
	}
	out := []tasks.BucketShare{}
	for b, n := range count {
		s := tasks.BucketShare{Bucket: b, Calls: n}
		if br, ok := e.limiter.(interface {
			Budget(context.Context, string, string, ratelimit.Priority) (ratelimit.BucketBudget, error)
		}); ok {
			if st, err := br.Budget(ctx, e.conn.Name, b, p); err == nil && st.Known {
				s.Known, s.Limit, s.Remaining, s.Usable = true, st.Limit, st.Remaining, st.Usable
				if st.Usable > 0 {
					s.Share = float64(n) / float64(st.Usable)
				} else {
					s.Share = float64(n)
				}
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bucket < out[j].Bucket })
	return out
}

// total counts the plan's calls and their cost per bucket.
func (e *Executor) total(ctx context.Context, plan *tasks.Plan) *tasks.Plan {
	var all []tasks.PlannedCall
	if plan.Snapshot != nil {
		all = append(all, plan.Snapshot.Calls...)
	}
	for _, s := range plan.Steps {
		all = append(all, s.Calls...)
	}
	plan.Calls = len(all)
	plan.Budget = e.shares(ctx, all, ratelimit.PriorityDefault)
	return plan
}
