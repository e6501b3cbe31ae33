package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// Four-eyes approval. An action that OKTAQ_APPROVALS lists is enqueued
// as usual, under its id, but scheduled at its expiry (now +
// OKTAQ_APPROVAL_TTL) with a hold saying approval "awaiting": nothing
// runs and no Okta call or rate-limit budget is spent while it waits.
// Approve and deny change the hold in one script, only from "awaiting"
// and only before the expiry, and then wake the task; the worker's hold
// check turns "awaiting" into "expired" in one script, only after the
// expiry. So approve and expiry each move the one hash from "awaiting"
// once, whichever comes first, and the action runs at most once. The
// decision is signed with the task keyring and the worker checks it, and
// the approver's rights, again: writing to Redis does not approve.

// decideScript: KEYS[1] the hold; ARGV[1] the verdict (approved or
// denied), ARGV[2] the signed decision, ARGV[3] now (unix ms). Answers
// ok, none (never awaited approval), cancelled, approved, denied or
// expired.
var decideScript = redis.NewScript(`
local k = KEYS[1]
if redis.call('HGET', k, 'cancelled') then return 'cancelled' end
local a = redis.call('HGET', k, 'approval')
if not a then return 'none' end
if a ~= 'awaiting' then return a end
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', k, 'expires_at')) then
  redis.call('HSET', k, 'approval', 'expired')
  return 'expired'
end
redis.call('HSET', k, 'approval', ARGV[1], 'decision', ARGV[2])
return 'ok'
`)

// holdCreateScript: KEYS[1] the hold; ARGV pairs of field, value, then
// the TTL (ms). Creates the hold only when it does not exist, so that a
// repeated request with the same idempotency key never resets an
// approval already given.
var holdCreateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[#ARGV])
return 1
`)

// awaitApproval writes the hold of an action that needs approval before
// its task exists: a worker never sees the task without it. It reports
// whether it created the hold, so that a failed or conflicting enqueue
// (the id already names another task) takes it back.
func (c *Client) awaitApproval(ctx context.Context, id string, expires, runAt time.Time, ttl time.Duration) (bool, error) {
	args := []any{tasks.HoldApproval, tasks.ApprovalAwaiting, tasks.HoldExpiresAt, expires.UnixMilli()}
	if !runAt.IsZero() {
		args = append(args, tasks.HoldRunAt, runAt.UnixMilli())
	}
	args = append(args, ttl.Milliseconds())
	n, err := holdCreateScript.Run(ctx, c.rc, []string{tasks.HoldKey(id)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("%w: hold for approval: %w", ErrUnavailable, err)
	}
	return n == 1, nil
}

// Approve lets producer's action id run, approved by approver. Errors:
// ErrNotFound, *tasks.ProducerNotAllowedError (the producer may not
// assert the approver's role), *HoldError (the requester, a role that may
// not approve, or not awaiting approval).
func (c *Client) Approve(ctx context.Context, producer, id string, approver tasks.Requester) (*Info, error) {
	return c.decide(ctx, producer, id, approver, tasks.VerdictApprove)
}

// Deny ends producer's action id as denied, with the same checks as
// Approve.
func (c *Client) Deny(ctx context.Context, producer, id string, approver tasks.Requester) (*Info, error) {
	return c.decide(ctx, producer, id, approver, tasks.VerdictDeny)
}

func (c *Client) decide(ctx context.Context, producer, id string, approver tasks.Requester, verdict string) (*Info, error) {
	if err := tasks.CheckRole(approver.Role); err != nil || approver.ID == "" {
		return nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "approver", Reason: "needs an id and a role (1-64 letters, digits, '.', '_' or '-')"}}}
	}
	info, args, err := c.taskFor(ctx, producer, id)
	if err != nil {
		return nil, err
	}
	r := args.Base()
	if err := c.opts.Producers.Authorize(producer, r.ConnectionName(), approver.Role); err != nil {
		return nil, err
	}
	policy, ok := c.Connection(r.ConnectionName())
	if !ok {
		return nil, &HoldError{Code: tasks.CodeUnknownConnection, Reason: fmt.Sprintf("connection %q is not configured", r.ConnectionName())}
	}
	if err := policy.AuthorizeApprover(args.Action(), r.Requester, approver); err != nil {
		var ae *tasks.ApprovalError
		errors.As(err, &ae)
		return nil, &HoldError{Code: ae.Code, Reason: ae.Reason}
	}
	if info.Final() {
		return nil, &HoldError{Code: tasks.CodeNotAwaitingApproval, Reason: "the action has ended"}
	}
	d := tasks.Decision{TaskID: id, Verdict: verdict, By: approver, Producer: producer, At: c.opts.Clock().UTC()}
	if err := c.signedBy(&d); err != nil {
		return nil, err
	}
	b, _ := jsonString(d)
	state := tasks.ApprovalApproved
	if verdict == tasks.VerdictDeny {
		state = tasks.ApprovalDenied
	}
	ans, err := decideScript.Run(ctx, c.rc, []string{tasks.HoldKey(id)}, state, b, c.opts.Clock().UnixMilli()).Text()
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s %q: %w", ErrUnavailable, verdict, id, err)
	case ans == "none":
		return nil, &HoldError{Code: tasks.CodeNotAwaitingApproval, Reason: "the action does not wait for approval"}
	case ans == "approved", ans == "denied":
		return nil, &HoldError{Code: tasks.CodeNotAwaitingApproval, Reason: "the action was already " + ans}
	case ans != "ok":
		return nil, holdRefusal(ans, "approved")
	}
	c.wake(info)
	return c.StatusFor(ctx, producer, id)
}

// taskFor is StatusFor with the task's decoded request.
func (c *Client) taskFor(ctx context.Context, producer, id string) (*Info, tasks.Args, error) {
	info, err := c.StatusFor(ctx, producer, id)
	if err != nil {
		return nil, nil, err
	}
	ti, err := c.inspector.GetTaskInfo(info.Queue, id)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read task %q: %w", ErrUnavailable, id, err)
	}
	args, err := tasks.DecodeTask(ti.Type, ti.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("task %q does not decode: %w", id, err)
	}
	return info, args, nil
}

func (c *Client) signedBy(d *tasks.Decision) error {
	if c.opts.Keyring == nil {
		return errors.New("enqueue: Options.Keyring is required to approve, deny or cancel")
	}
	c.opts.Keyring.SignDecision(d)
	return nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// postActionVerb serves POST /v1/actions/{id}:approve, :deny, :cancel and
// :reschedule (a ServeMux wildcard is a whole segment, so the verb is cut
// off here).
func (a *api) postActionVerb(w http.ResponseWriter, r *http.Request, producer string) {
	ref := r.PathValue("id")
	i := strings.LastIndexByte(ref, ':')
	if i < 0 {
		w.Header().Set("Allow", "GET")
		r.Pattern = ""
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "POST takes an action verb: /v1/actions/{id}:approve, :deny, :cancel or :reschedule"))
		return
	}
	id, verb := ref[:i], ref[i+1:]
	// The route's name (metrics, the OpenAPI check) carries the verb.
	r.Pattern = "POST /v1/actions/{id}:" + verb
	switch verb {
	case "approve", "deny":
		a.postDecision(w, r, producer, id, verb)
	case "cancel":
		a.postCancel(w, r, producer, id)
	case "reschedule":
		a.postReschedule(w, r, producer, id)
	default:
		r.Pattern = ""
		writeProblem(w, newProblem(http.StatusNotFound, "not_found", fmt.Sprintf("unknown verb %q; want approve, deny, cancel or reschedule", verb)))
	}
}

// postDecision: {"approver": {"id", "role"}}.
func (a *api) postDecision(w http.ResponseWriter, r *http.Request, producer, id, verb string) {
	var body struct {
		Approver tasks.Requester `json:"approver"`
	}
	if p := a.readHoldBody(w, r, &body, false); p != nil {
		writeProblem(w, p)
		return
	}
	var info *Info
	var err error
	if verb == "approve" {
		info, err = a.c.Approve(r.Context(), producer, id, body.Approver)
	} else {
		info, err = a.c.Deny(r.Context(), producer, id, body.Approver)
	}
	a.holdAudit(r, verb, producer, id, body.Approver, err)
	a.answerHold(w, info, err)
}

// readHoldBody decodes a verb's JSON body strictly; optional allows an
// empty one.
func (a *api) readHoldBody(w http.ResponseWriter, r *http.Request, v any, optional bool) *Problem {
	if optional && r.ContentLength == 0 {
		return nil
	}
	b, p := readJSON(w, r, a.opts.MaxBodyBytes)
	if p != nil {
		return p
	}
	if err := tasks.CheckJSON(b); err != nil {
		return problemFor(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		msg := "must be a JSON object of the documented fields"
		if err != nil {
			msg += ": " + err.Error()
		}
		return fieldProblem("payload", msg)
	}
	return nil
}

// holdAudit logs one line per approve, deny, cancel or reschedule: the
// decision (approved, denied, cancelled, rescheduled, or refused with
// its code and reason), who decided (approver), and the action's own
// fields as the API's and the worker's audit lines name them (action,
// connection, user, requester, ticket, task id), so that one query on
// task_id follows an action from accepted to performed.
func (a *api) holdAudit(r *http.Request, verb, producer, id string, by tasks.Requester, err error) {
	decision := map[string]string{"approve": "approved", "deny": "denied", "cancel": "cancelled", "reschedule": "rescheduled"}[verb]
	if err != nil {
		decision = "refused"
	}
	attrs := []any{slog.String("decision", decision), slog.String("verb", verb), slog.String("producer", producer), slog.String("task_id", id)}
	if _, args, terr := a.c.taskFor(r.Context(), producer, id); terr == nil {
		req := args.Base()
		attrs = append(attrs, slog.String("action", string(args.Action())), slog.String("connection", req.ConnectionName()),
			slog.String("user", req.User),
			slog.Group("requester", "id", req.Requester.ID, "role", req.Requester.Role),
			slog.Group("ticket", "system", req.Ticket.System, "id", req.Ticket.ID))
	}
	attrs = append(attrs, slog.Group("approver", "id", by.ID, "role", by.Role))
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		var he *HoldError
		p := problemFor(err)
		if errors.As(err, &he) {
			p = holdProblem(he)
		}
		attrs = append(attrs, slog.String("code", p.Code), slog.String("reason", reasonOf(p)))
	}
	a.log.Log(r.Context(), level, "audit", attrs...)
}
