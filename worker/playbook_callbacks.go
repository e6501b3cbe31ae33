package worker

import (
	"context"

	"github.com/oktaq/oktaq/tasks"
)

// RunView is the data of a playbook.* delivery: the run as
// GET /v1/playbooks/runs/{id} answers it (enqueue's run view, links
// included). Each step is an ordinary action of the run's producer and
// is called back on its own (action.*).
type RunView struct {
	*tasks.Run
	Links map[string]string `json:"links"`
}

// runEnded tells the run's producer that its run ended: playbook.succeeded,
// playbook.partial or playbook.failed. A coordinator that ended the run
// and died before this is run again and calls it again; the delivery's id
// (run id and type) keeps it to one.
func (w *Worker) runEnded(ctx context.Context, run *tasks.Run) {
	if !run.State.Final() || w.opts.Callbacks == nil {
		return
	}
	l := map[string]string{"self": "/v1/playbooks/runs/" + run.ID}
	if run.Snapshot != nil && run.UndoOf == "" {
		l["undo"] = "/v1/playbooks/runs/" + run.ID + ":undo"
	}
	w.emitCallback(ctx, run.Producer, run.ID, "playbook."+string(run.State), RunView{Run: run, Links: l})
}
