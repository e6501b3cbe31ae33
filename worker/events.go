package worker

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// Event is a change of an action's state that is not its end (its end
// is the result record): a push sent to the user, a fall-back to
// approval, a reminder that a time-bound access ends soon. Options.OnEvent
// hears it; the callbacks (issue 16) deliver it as
// {"type": Type, "data": <the action's view>}.
type Event struct {
	// Type is one of the Event constants.
	Type   string
	TaskID string
	Args   tasks.Args
	// At is when what the event announces happens (the access ends, the
	// approval expires).
	At     time.Time
	Detail *tasks.Detail
}

// Event types, named as the callbacks' "action.<state>".
const (
	// EventAccessExpiring: a time-bound access is removed at At
	// (OKTAQ_ACCESS_REMINDER before). TaskID is the removal's.
	EventAccessExpiring = "action.expiring"
	// EventAwaitingVerification: a push went to the user.
	EventAwaitingVerification = "action.awaiting_verification"
	// EventAwaitingApproval: a user without a push factor fell back to a
	// second person's approval, which expires at At.
	EventAwaitingApproval = "action.awaiting_approval"
)

// emit logs the event, hands it to OnEvent and to the producer's
// callbacks; it returns the error of the last, for a caller that must
// deliver at least once.
func (w *Worker) emit(ctx context.Context, e Event) error {
	attrs := []any{slog.String("type", e.Type), slog.String("task_id", e.TaskID), slog.Time("at", e.At)}
	if e.Args != nil {
		r := e.Args.Base()
		attrs = append(attrs, slog.String("action", string(e.Args.Action())), slog.String("producer", r.Producer),
			slog.String("user", r.User), slog.String("connection", r.ConnectionName()))
	}
	w.opts.Logger.InfoContext(ctx, "event", attrs...)
	if w.opts.OnEvent != nil {
		w.opts.OnEvent(ctx, e)
	}
	return w.callBackEvent(ctx, e)
}

// EventView is the data of an event's callback: the action's view, in
// the state the event announces, with when it happens and why.
type EventView struct {
	ActionView
	At     time.Time     `json:"at"`
	Detail *tasks.Detail `json:"detail,omitempty"`
}

// eventStates: the state GET /v1/actions/{id} shows while the event holds.
var eventStates = map[string]string{
	EventAwaitingApproval:     "awaiting_approval",
	EventAwaitingVerification: "awaiting_verification",
	EventAccessExpiring:       "scheduled",
}

// callBackEvent sends the event to the action's producer. A reminder
// goes out once per end time (a reschedule re-arms it); the other events
// once per action.
func (w *Worker) callBackEvent(ctx context.Context, e Event) error {
	if w.opts.Callbacks == nil || e.Args == nil {
		return nil
	}
	v := ActionView{ID: e.TaskID, Action: string(e.Args.Action()), State: eventStates[e.Type]}
	if q, ok := asynq.GetQueueName(ctx); ok {
		if cur, err := w.currentView(q, e.TaskID); err == nil {
			v = cur
			v.State = eventStates[e.Type]
		}
	}
	out := callbackOut{producer: e.Args.Base().Producer, actionID: e.TaskID, typ: e.Type, due: e.At,
		data: EventView{ActionView: v, At: e.At.UTC(), Detail: e.Detail}}
	if e.Type == EventAccessExpiring {
		out.key = strconv.FormatInt(e.At.UnixMilli(), 10)
	}
	return w.emitCallbackOut(ctx, out)
}
