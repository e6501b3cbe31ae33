package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// oktaEvent is the part of a System Log event the matching reads.
type oktaEvent struct {
	UUID           string    `json:"uuid"`
	EventType      string    `json:"eventType"`
	Published      time.Time `json:"published"`
	DisplayMessage string    `json:"displayMessage"`
	Actor          struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		AlternateID string `json:"alternateId"`
		DisplayName string `json:"displayName"`
	} `json:"actor"`
	Target []struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		AlternateID string `json:"alternateId"`
		DisplayName string `json:"displayName"`
	} `json:"target"`
	DebugContext struct {
		DebugData map[string]any `json:"debugData"`
	} `json:"debugContext"`
}

func (e *oktaEvent) requestID() string {
	s, _ := e.DebugContext.DebugData["requestId"].(string)
	return s
}

// errRecheck: the event matched nothing yet; look again later.
type errRecheck struct{ uuid string }

func (e *errRecheck) Error() string {
	return "event " + e.uuid + " matches no action yet; looking again later"
}

// UserChange is the data of a user.changed callback: an Okta event about
// a user a producer acted on, caused by no action of oktaq's (an admin in
// the console, another integration).
type UserChange struct {
	Connection string `json:"connection"`
	User       struct {
		ID    string `json:"id"`
		Login string `json:"login"`
	} `json:"user"`
	Event struct {
		ID             string    `json:"id"`
		Type           string    `json:"type"`
		Published      time.Time `json:"published"`
		DisplayMessage string    `json:"display_message"`
		Actor          string    `json:"actor"`
	} `json:"event"`
}

// handleOktaEvent is tasks.TypeOktaEvent: match one received event.
func (w *Worker) handleOktaEvent(ctx context.Context, t *asynq.Task) error {
	if err := w.verifyTask(ctx, t); err != nil {
		w.opts.Logger.Warn("okta event task rejected", "error", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	var et tasks.OktaEventTask
	var ev oktaEvent
	if err := json.Unmarshal(t.Payload(), &et); err != nil {
		return fmt.Errorf("okta event task: %w: %w", err, asynq.SkipRetry)
	}
	if err := json.Unmarshal(et.Event, &ev); err != nil || ev.UUID == "" {
		return fmt.Errorf("okta event: not a LogEvent: %w", asynq.SkipRetry)
	}
	if rid := ev.requestID(); rid != "" {
		id, err := w.rdb.Get(ctx, reqIDKey(et.Connection, rid)).Result()
		switch {
		case err == nil:
			return w.confirmBy(ctx, et.Connection, id, &ev)
		case !errors.Is(err, redis.Nil):
			return fmt.Errorf("match event %s: %w", ev.UUID, err)
		}
	}
	// No action of ours made this change, or its record is not written
	// yet: look once more before calling it a manual change.
	if retried(ctx) == 0 && w.opts.Confirm != nil {
		return &errRecheck{uuid: ev.UUID}
	}
	return w.manualChange(ctx, et.Connection, &ev)
}

// confirmBy counts an event of the action; the expected number of
// distinct events confirms it.
func (w *Worker) confirmBy(ctx context.Context, conn, actionID string, ev *oktaEvent) error {
	raw, err := w.rdb.Get(ctx, confirmMetaKey(actionID)).Bytes()
	if errors.Is(err, redis.Nil) {
		w.metrics.events.WithLabelValues(conn, "unmatched").Inc()
		return nil
	} else if err != nil {
		return err
	}
	var meta confirmMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if !slices.Contains(okta.EventTypes(meta.Action), ev.EventType) {
		w.metrics.events.WithLabelValues(conn, "unmatched").Inc()
		return nil // the same call's other event (not ours to count)
	}
	pipe := w.rdb.TxPipeline()
	added := pipe.SAdd(ctx, confirmEventsKey(actionID), ev.UUID)
	card := pipe.SCard(ctx, confirmEventsKey(actionID))
	pipe.Expire(ctx, confirmEventsKey(actionID), w.confirmKeep())
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if added.Val() == 0 {
		w.metrics.events.WithLabelValues(conn, "duplicate").Inc()
		return nil
	}
	w.metrics.events.WithLabelValues(conn, "confirmed").Inc()
	if int(card.Val()) < meta.Expected {
		return nil
	}
	return w.settle(ctx, actionID, meta, tasks.Confirmation{State: tasks.ConfirmationConfirmed, EventID: ev.UUID, At: ev.Published})
}

// manualChange tells the producers that acted on the user about a change
// no action of ours caused.
func (w *Worker) manualChange(ctx context.Context, conn string, ev *oktaEvent) error {
	for _, tg := range ev.Target {
		if tg.Type != "User" {
			continue
		}
		producers, err := w.rdb.SMembers(ctx, userProducersKey(conn, tg.ID)).Result()
		if err != nil {
			return err
		}
		if len(producers) == 0 {
			continue
		}
		w.metrics.events.WithLabelValues(conn, "manual_change").Inc()
		var ch UserChange
		ch.Connection = conn
		ch.User.ID, ch.User.Login = tg.ID, tg.AlternateID
		ch.Event.ID, ch.Event.Type, ch.Event.Published = ev.UUID, ev.EventType, ev.Published
		ch.Event.DisplayMessage, ch.Event.Actor = ev.DisplayMessage, ev.Actor.AlternateID
		w.opts.Logger.Info("okta change by no action of oktaq", "connection", conn, "user_id", tg.ID,
			"event_type", ev.EventType, "event_id", ev.UUID, "actor", ev.Actor.AlternateID)
		for _, p := range producers {
			w.emitCallback(ctx, p, "event-"+ev.UUID, CallbackUserChanged, ch)
		}
		return nil
	}
	w.metrics.events.WithLabelValues(conn, "unmatched").Inc()
	return nil
}
