package enqueue

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/oktaq/oktaq/tasks"
)

// actionRef answers an accepted action.
type actionRef struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	State  string `json:"state"`
	Links  links  `json:"links"`
}

type links struct {
	Self string `json:"self"`
}

// batchItem answers one action of a batch.
type batchItem struct {
	Index   int      `json:"index"`
	Status  int      `json:"status"`
	ID      string   `json:"id,omitempty"`
	State   string   `json:"state,omitempty"`
	Problem *Problem `json:"problem,omitempty"`
	// Plan answers an action with "dry_run": true (status 200).
	Plan *tasks.Plan `json:"plan,omitempty"`
}

func refOf(info *Info) actionRef {
	return actionRef{ID: info.ID, Action: string(info.Action), State: info.State,
		Links: links{Self: "/v1/actions/" + url.PathEscape(info.ID)}}
}

// smallBody is the most readJSON allocates for a body before it arrives.
const smallBody = 64 << 10

// readJSON reads a JSON body of at most limit bytes.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Problem) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" { // the usual one needs no parse (a map a request)
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as Content-Type: application/json")
		}
	}
	tooLarge := func() *Problem {
		return newProblem(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than the limit")
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	if n := r.ContentLength; n >= 0 && n <= smallBody {
		// The server ends the body at its Content-Length: read it into a
		// buffer of that size, without io.ReadAll's growing one.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, fieldProblem("payload", "could not be read")
		}
		return b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge()
	case err != nil:
		return nil, fieldProblem("payload", "could not be read")
	}
	return b, nil
}

func fieldProblem(field, reason string) *Problem { return problemFor(fieldError(field, reason)) }

// enqueueBody decodes and enqueues one action for producer, and logs the
// decision as one audit line; with "dry_run": true it enqueues nothing
// and answers the plan.
func (a *api) enqueueBody(r *http.Request, body []byte, producer string) (*Info, *tasks.Plan, *Problem) {
	ab, err := decodeActionBody(body)
	if err != nil {
		p := problemFor(err)
		a.audit(r, "refused", producer, nil, nil, p)
		return nil, nil, p
	}
	if ab.dryRun {
		plan, p := a.dryRunAction(r, ab, producer)
		return nil, plan, p
	}
	info, p := a.enqueueDecoded(r, ab, producer)
	return info, nil, p
}

func (a *api) dryRunAction(r *http.Request, ab actionBody, producer string) (*tasks.Plan, *Problem) {
	plan, err := a.c.DryRunAction(r.Context(), a.opts.Planners[orDefault(ab.args.Base().Connection)], producer, ab.args)
	switch {
	case errors.Is(err, ErrNoPlanner):
		return nil, newProblem(http.StatusNotImplemented, "dry_run_unavailable", err.Error())
	case err != nil:
		p := problemFor(err)
		a.audit(r, "refused", producer, ab.args, nil, p)
		return nil, p
	}
	return plan, nil
}

func (a *api) enqueueDecoded(r *http.Request, ab actionBody, producer string) (*Info, *Problem) {
	var opts []EnqueueOption
	if !ab.runAt.IsZero() {
		opts = append(opts, RunAt(ab.runAt))
	}
	if !ab.deadline.IsZero() {
		opts = append(opts, Deadline(ab.deadline))
	}
	info, err := a.c.enqueueAs(r.Context(), producer, ab.args, opts...)
	if err != nil {
		p := problemFor(err)
		if p.Status >= 500 {
			a.log.ErrorContext(r.Context(), "enqueue failed", "producer", producer, "action", ab.args.Action(), "err", err)
			return nil, p
		}
		a.audit(r, "refused", producer, ab.args, nil, p)
		return nil, p
	}
	a.audit(r, "accepted", producer, ab.args, info, nil)
	return info, nil
}

// audit logs one decision of the API: accepted (with the task id) or
// refused (with the problem's code and detail). Its fields are those of
// the worker's audit lines, so that one query follows an action.
func (a *api) audit(r *http.Request, decision, producer string, args tasks.Args, info *Info, p *Problem) {
	level := slog.LevelInfo
	if p != nil {
		level = slog.LevelWarn
	}
	// The line's attributes cost 20 allocations: none for a logger that
	// drops it.
	if !a.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []any{slog.String("decision", decision), slog.String("producer", producer)}
	if args != nil {
		req := args.Base()
		attrs = append(attrs, slog.String("action", string(args.Action())), slog.String("connection", req.ConnectionName()),
			slog.String("user", req.User),
			slog.Group("requester", "id", req.Requester.ID, "role", req.Requester.Role),
			slog.Group("ticket", "system", req.Ticket.System, "id", req.Ticket.ID))
	}
	if info != nil {
		attrs = append(attrs, slog.String("task_id", info.ID), slog.String("state", info.State), slog.Bool("existing", info.Existing))
	}
	if p != nil {
		attrs = append(attrs, slog.String("code", p.Code), slog.String("reason", reasonOf(p)))
	}
	a.log.Log(r.Context(), level, "audit", attrs...)
}

// reasonOf is a problem's detail with its field errors.
func reasonOf(p *Problem) string {
	if len(p.Errors) == 0 {
		return p.Detail
	}
	return (&tasks.ValidationError{Fields: p.Errors}).Error()
}

func (a *api) postAction(w http.ResponseWriter, r *http.Request, producer string) {
	body, p := readJSON(w, r, a.opts.MaxBodyBytes)
	if p != nil {
		writeProblem(w, p)
		return
	}
	info, plan, p := a.enqueueBody(r, body, producer)
	switch {
	case p != nil:
		writeProblem(w, p)
		return
	case plan != nil:
		writeJSON(w, http.StatusOK, plan)
		return
	}
	status := http.StatusAccepted
	if info.Existing {
		status = http.StatusOK
	}
	writeActionRef(w, status, refOf(info))
}

// writeActionRef answers an accepted action, with its Location. The
// answer is encoded by hand, byte for byte as writeJSON would encode it
// (TestActionRefEncoding): json.Encoder's reflection was ~2 µs of each
// accepted action.
func writeActionRef(w http.ResponseWriter, status int, ref actionRef) {
	bp := refBufs.Get().(*[]byte)
	defer refBufs.Put(bp)
	b := append((*bp)[:0], `{"id":`...)
	b = appendJSONString(b, ref.ID)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, ref.Action)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, ref.State)
	b = append(b, `,"links":{"self":`...)
	b = appendJSONString(b, ref.Links.Self)
	b = append(b, "}}\n"...)
	*bp = b
	h := w.Header()
	h.Set("Location", ref.Links.Self)
	h["Content-Type"] = jsonContentType
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

var refBufs = sync.Pool{New: func() any { return new([]byte) }}

// jsonContentType is the Content-Type header's value, shared: a header
// value slice is replaced, never written into.
var jsonContentType = []string{"application/json"}

// appendJSONString appends s as encoding/json writes it: a string that
// needs no escape as it is, any other through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (a *api) postBatch(w http.ResponseWriter, r *http.Request, producer string) {
	body, p := readJSON(w, r, a.opts.MaxBatchBytes)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var batch struct {
		Actions []json.RawMessage `json:"actions"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil || dec.More() {
		writeProblem(w, fieldProblem("actions", "the body must be {\"actions\": [ ... ]}"))
		return
	}
	switch n := len(batch.Actions); {
	case n == 0:
		writeProblem(w, fieldProblem("actions", "is empty"))
		return
	case n > MaxBatch:
		writeProblem(w, fieldProblem("actions", "holds more than 500 actions; split the batch"))
		return
	}
	results := make([]batchItem, len(batch.Actions))
	for i, raw := range batch.Actions {
		results[i].Index = i
		info, plan, p := a.enqueueBody(r, raw, producer)
		switch {
		case p != nil:
			results[i].Status, results[i].Problem = p.Status, p
			continue
		case plan != nil:
			results[i].Status, results[i].Plan = http.StatusOK, plan
			continue
		}
		results[i].Status, results[i].ID, results[i].State = http.StatusAccepted, info.ID, info.State
		if info.Existing {
			results[i].Status = http.StatusOK
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (a *api) getAction(w http.ResponseWriter, r *http.Request, producer string) {
	info, err := a.c.StatusFor(r.Context(), producer, r.PathValue("id"))
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, info.View())
}

type capability struct {
	Action       string `json:"action"`
	Allowed      bool   `json:"allowed"`
	Reason       string `json:"reason,omitempty"`
	Code         string `json:"code,omitempty"`
	MissingScope string `json:"missing_scope,omitempty"`
}

// getCapabilities answers what the calling producer may have done for a
// requester of the role: the role and connection are validated as a POST
// would validate them, and the producer's own bounds apply.
func (a *api) getCapabilities(w http.ResponseWriter, r *http.Request, producer string) {
	q := r.URL.Query()
	name, role := q.Get("connection"), q.Get("role")
	if name == "" {
		name = tasks.DefaultConnection
	}
	if role == "" {
		writeProblem(w, fieldProblem("role", "is required: the requester role to check, like ?role=it-admin"))
		return
	}
	if err := tasks.CheckRole(role); err != nil {
		writeProblem(w, fieldProblem("role", err.Error()))
		return
	}
	if err := tasks.CheckConnectionName(name); err != nil {
		writeProblem(w, fieldProblem("connection", err.Error()))
		return
	}
	conn, ok := a.c.Connection(name)
	if !ok {
		writeProblem(w, fieldProblem("connection", "unknown connection"))
		return
	}
	bound := a.c.opts.Producers.Authorize(producer, name, role)
	caps := make([]capability, 0, len(tasks.Actions()))
	for _, act := range tasks.Actions() {
		c := capability{Action: string(act), Allowed: true}
		var na *tasks.NotAllowedError
		var pn *tasks.ProducerNotAllowedError
		switch err := conn.Authorize(act, role); {
		case errors.As(bound, &pn):
			c.Allowed, c.Reason, c.Code = false, pn.Error(), string(pn.Code())
		case errors.As(err, &na):
			c.Allowed, c.Reason, c.Code, c.MissingScope = false, na.Error(), string(na.Code()), na.Scope
		}
		caps = append(caps, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"connection": name, "role": role, "producer": producer, "actions": caps})
}

func (a *api) healthz(w http.ResponseWriter, _ *http.Request, _ string) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request, _ string) {
	if err := a.opts.Ready(r.Context()); err != nil {
		writeProblem(w, newProblem(http.StatusServiceUnavailable, "unavailable", "not ready: the task store does not answer"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *api) openapi(w http.ResponseWriter, _ *http.Request, _ string) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(OpenAPI)
}
