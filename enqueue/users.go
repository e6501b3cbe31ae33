package enqueue

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// UserReader reads what Okta holds of a user, for the user view. enqueue
// has no Okta client of its own: the API process wires okta.UserReader
// (Options.Users). ReadUser answers every action's verdict for this user
// regardless of role; errors are *tasks.ViewError or the context's.
type UserReader interface {
	ReadUser(ctx context.Context, connection, ref string, fresh bool) (*tasks.UserView, error)
}

// ErrNoUserReader: the client was built without Options.Users.
var ErrNoUserReader = errors.New("enqueue: this client cannot read users: set Options.Users (an okta.UserReader)")

// UserQuery is what a user view is asked for.
type UserQuery struct {
	// Connection names the Okta org ("" is "default").
	Connection string
	// Role is the requester's role: Actions says what it may do. Empty
	// leaves Actions out.
	Role string
	// Fresh reads Okta even when a cached view is young enough.
	Fresh bool
}

// User answers the view of ref (an Okta user id or a full login) as this
// client's producer: the same producer bounds as Enqueue apply to the
// role and connection. Errors: *tasks.ValidationError (naming ref, role
// or connection), *tasks.ProducerNotAllowedError, *tasks.ViewError (no
// such user, rate limited, Okta unavailable), ErrNoUserReader.
func (c *Client) User(ctx context.Context, ref string, q UserQuery) (*tasks.UserView, error) {
	return c.userAs(ctx, c.opts.Producer, ref, q)
}

func (c *Client) userAs(ctx context.Context, producer, ref string, q UserQuery) (*tasks.UserView, error) {
	name := q.Connection
	if name == "" {
		name = tasks.DefaultConnection
	}
	var fields []tasks.FieldError
	if err := tasks.CheckUserRef(ref); err != nil {
		fields = append(fields, tasks.FieldError{Field: "ref", Reason: err.Error()})
	}
	if q.Role != "" {
		if err := tasks.CheckRole(q.Role); err != nil {
			fields = append(fields, tasks.FieldError{Field: "role", Reason: err.Error()})
		}
	}
	policy, known := c.Connection(name)
	if err := tasks.CheckConnectionName(name); err != nil {
		fields = append(fields, tasks.FieldError{Field: "connection", Reason: err.Error()})
	} else if !known {
		fields = append(fields, tasks.FieldError{Field: "connection", Reason: "unknown connection"})
	}
	if len(fields) > 0 {
		return nil, &tasks.ValidationError{Fields: fields}
	}
	bound := c.opts.Producers.AuthorizeConnection(producer, name)
	if q.Role != "" {
		bound = c.opts.Producers.Authorize(producer, name, q.Role)
	}
	if bound != nil {
		return nil, bound
	}
	if c.opts.Users == nil {
		return nil, ErrNoUserReader
	}
	v, err := c.opts.Users.ReadUser(ctx, name, ref, q.Fresh)
	if err != nil {
		return nil, err
	}
	out := v.ForRole(policy, q.Role)
	c.addHeld(ctx, producer, ref, out)
	return out, nil
}

// addHeld lists producer's held actions on the user (named by id, login
// or the ref asked): awaiting approval or a push in PendingActions,
// removals of time-bound access in ExpiringAccess. A Redis failure leaves
// both out, said in Omitted: the Okta part of the view still stands.
func (c *Client) addHeld(ctx context.Context, producer, ref string, v *tasks.UserView) {
	v.PendingActions, v.ExpiringAccess = []tasks.HeldAction{}, []tasks.HeldAction{}
	held, err := c.HeldFor(ctx, v.ID, v.Login, ref)
	if err != nil {
		v.PendingActions, v.ExpiringAccess = nil, nil
		v.Omitted = append(slices.Clone(v.Omitted), tasks.Omission{Section: "pending_actions",
			Reason: "oktaq's queue could not be read; pending_actions and expiring_access are left out"})
		return
	}
	for _, h := range held {
		switch {
		case producer != "" && h.Producer != producer:
		case h.ExpiresAccess:
			v.ExpiringAccess = append(v.ExpiringAccess, h)
		default:
			v.PendingActions = append(v.PendingActions, h)
		}
	}
	slices.SortFunc(v.ExpiringAccess, func(a, b tasks.HeldAction) int { return a.RunAt.Compare(b.RunAt) })
}

// getUser answers GET /v1/users/{ref}?connection=&role=&fresh=.
func (a *api) getUser(w http.ResponseWriter, r *http.Request, producer string) {
	q := r.URL.Query()
	uq := UserQuery{Connection: q.Get("connection"), Role: q.Get("role")}
	switch f := q.Get("fresh"); f {
	case "", "false", "0":
	case "true", "1":
		uq.Fresh = true
	default:
		writeProblem(w, fieldProblem("fresh", "must be true or false"))
		return
	}
	v, err := a.c.userAs(r.Context(), producer, r.PathValue("ref"), uq)
	if err != nil {
		p := viewProblem(err, a.c.opts.Clock())
		if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
			a.log.ErrorContext(r.Context(), "user view failed", "producer", producer, "err", err)
		}
		if p.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
		}
		writeProblem(w, p.Problem)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type viewAnswer struct {
	*Problem
	retryAfter int // seconds; 0: writeProblem's default for a 503
}

// viewProblem maps a user view's error onto its answer: 404 for no such
// user, 429 when the rate limiter (or Okta) says wait, 503 when Okta
// cannot be reached, each with Retry-After from the error; never Okta's
// own 429 passed through.
func viewProblem(err error, now time.Time) viewAnswer {
	var ve *tasks.ViewError
	if !errors.As(err, &ve) {
		if errors.Is(err, ErrNoUserReader) {
			return viewAnswer{Problem: newProblem(http.StatusNotImplemented, "not_implemented", "this API process has no Okta credentials to read users")}
		}
		return viewAnswer{Problem: problemFor(err)}
	}
	wait := 0
	if !ve.RetryAt.IsZero() {
		wait = max(1, int(math.Ceil(ve.RetryAt.Sub(now).Seconds())))
	}
	switch ve.Code {
	case tasks.CodeNotFound:
		return viewAnswer{Problem: newProblem(http.StatusNotFound, "not_found", "no such user: "+ve.Summary)}
	case tasks.CodeRateLimited:
		return viewAnswer{Problem: newProblem(http.StatusTooManyRequests, "rate_limited", ve.Summary+"; retry after the Retry-After seconds"), retryAfter: max(1, wait)}
	case tasks.CodeConnectionDown, tasks.CodeTransient, tasks.CodeUnauthorized, tasks.CodeUnknownConnection:
		return viewAnswer{Problem: newProblem(http.StatusServiceUnavailable, "unavailable", "Okta cannot be read now ("+string(ve.Code)+"): "+ve.Summary), retryAfter: wait}
	}
	return viewAnswer{Problem: newProblem(http.StatusBadGateway, "okta_refused", "Okta refused to show the user ("+string(ve.Code)+"): "+ve.Summary)}
}
