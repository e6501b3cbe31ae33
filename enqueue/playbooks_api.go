package enqueue

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/oktaq/oktaq/tasks"
)

// runView is a run as the API answers it, with links.
type runView struct {
	*tasks.Run
	Links map[string]string `json:"links"`
}

func viewRun(run *tasks.Run) runView {
	l := map[string]string{"self": "/v1/playbooks/runs/" + run.ID}
	if run.State.Final() && run.Snapshot != nil && run.UndoOf == "" {
		l["undo"] = "/v1/playbooks/runs/" + run.ID + ":undo"
	}
	return runView{Run: run, Links: l}
}

// muxPattern is the pattern a route is registered under. Go's mux takes a
// wildcard only as a whole segment, and finds /v1/playbooks/{name}/runs
// and /v1/playbooks/runs/{id}:undo in conflict (runs/runs matches both):
// both are served by one pattern, and playbookRoute picks.
func muxPattern(p string) string {
	switch p {
	case "POST /v1/playbooks/{name}/runs", "POST /v1/playbooks/runs/{id}:undo":
		return "POST /v1/playbooks/{a}/{b}"
	}
	return p
}

// playbookRoute serves POST /v1/playbooks/{a}/{b}: a run's start or its
// undo.
func (a *api) playbookRoute(w http.ResponseWriter, r *http.Request, producer string) {
	first, second := r.PathValue("a"), r.PathValue("b")
	switch {
	case first == "runs" && strings.HasSuffix(second, ":undo"):
		r.SetPathValue("id", second)
		a.postPlaybookUndo(w, r, producer)
	case second == "runs":
		r.SetPathValue("name", first)
		a.postPlaybookRun(w, r, producer)
	default:
		writeProblem(w, newProblem(http.StatusNotFound, "not_found", "no such route; see /openapi.yaml"))
	}
}

func decodeStrict(body []byte, v any) error {
	if err := tasks.CheckJSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return fieldError("payload", "must be a JSON object of the documented fields: "+errText(err))
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "trailing data"
	}
	return err.Error()
}

func (a *api) postPlaybookRun(w http.ResponseWriter, r *http.Request, producer string) {
	body, p := readJSON(w, r, a.opts.MaxBodyBytes)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req RunRequest
	if err := decodeStrict(body, &req); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	name := r.PathValue("name")
	if req.DryRun {
		plan, err := a.c.DryRun(r.Context(), a.opts.Planners[orDefault(req.Connection)], producer, name, req)
		if errors.Is(err, ErrNoPlanner) {
			writeProblem(w, newProblem(http.StatusNotImplemented, "dry_run_unavailable", err.Error()))
			return
		}
		if err != nil {
			writeProblem(w, problemFor(err))
			return
		}
		writeJSON(w, http.StatusOK, plan)
		return
	}
	run, existing, err := a.c.startPlaybookAs(r.Context(), producer, name, req)
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	a.log.Info("audit", "decision", "accepted", "producer", producer, "playbook", name, "run_id", run.ID,
		"user", req.User, "requester", req.Requester.ID, "ticket", req.Ticket.ID, "existing", existing)
	status := http.StatusAccepted
	if existing {
		status = http.StatusOK
	}
	v := viewRun(run)
	w.Header().Set("Location", v.Links["self"])
	writeJSON(w, status, v)
}

func (a *api) getPlaybookRun(w http.ResponseWriter, r *http.Request, producer string) {
	run, err := a.c.Run(r.Context(), producer, r.PathValue("id"))
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, viewRun(run))
}

func (a *api) postPlaybookUndo(w http.ResponseWriter, r *http.Request, producer string) {
	id, ok := strings.CutSuffix(r.PathValue("id"), ":undo")
	if !ok {
		writeProblem(w, newProblem(http.StatusNotFound, "not_found", "no such route; see /openapi.yaml"))
		return
	}
	body, p := readJSON(w, r, a.opts.MaxBodyBytes)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req struct {
		Requester tasks.Requester `json:"requester"`
		Ticket    tasks.Ticket    `json:"ticket,omitzero"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	run, existing, err := a.c.Undo(r.Context(), producer, id, req.Requester, req.Ticket)
	switch {
	case errors.Is(err, ErrRunNotDone):
		writeProblem(w, newProblem(http.StatusConflict, "run_not_done", err.Error()))
		return
	case errors.Is(err, ErrSnapshotNotVerified):
		a.log.Warn("audit", "decision", "refused", "producer", producer, "run_id", id, "code", "snapshot_not_verified", "error", err.Error())
		writeProblem(w, newProblem(http.StatusConflict, "snapshot_not_verified", err.Error()))
		return
	case err != nil:
		writeProblem(w, problemFor(err))
		return
	}
	status := http.StatusAccepted
	if existing {
		status = http.StatusOK
	}
	writeJSON(w, status, viewRun(run))
}

func orDefault(conn string) string {
	if conn == "" {
		return tasks.DefaultConnection
	}
	return conn
}
