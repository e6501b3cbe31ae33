package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// errCallbackWait: an earlier delivery of the same action is not done
// yet. Not a failure: asynq does not count it as an attempt.
type errCallbackWait struct{ earlier string }

func (e *errCallbackWait) Error() string {
	if e.earlier == "" {
		return "every delivery slot for this producer is busy"
	}
	return "waiting for the earlier delivery " + e.earlier + " of the same action"
}

// errCallbackFailed: the receiver did not answer 2xx in time.
type errCallbackFailed struct{ reason string }

func (e *errCallbackFailed) Error() string { return "delivery failed: " + e.reason }

// deliverCallback is the handler of TypeCallback.
func (w *Worker) deliverCallback(ctx context.Context, t *asynq.Task) error {
	cb := w.opts.Callbacks
	id, _ := asynq.GetTaskID(ctx)
	if err := w.verifyTask(ctx, t); err != nil {
		w.opts.Logger.Warn("callback task rejected", "task_id", id, "error", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	var ct callbackTask
	if err := json.Unmarshal(t.Payload(), &ct); err != nil {
		return fmt.Errorf("callback payload: %w: %w", err, asynq.SkipRetry)
	}
	ep, ok := cb.Endpoints[ct.Producer]
	if cb == nil || !ok {
		w.callbackDone(ctx, ct, id, "dropped")
		return fmt.Errorf("producer %q has no callback URL any more: %w", ct.Producer, asynq.SkipRetry)
	}
	release, ok := w.cbAcquire(ct.Producer)
	if !ok {
		return &errCallbackWait{}
	}
	defer release()
	if earlier, err := w.earlierPending(ctx, ct); err != nil {
		return err
	} else if earlier != "" {
		return &errCallbackWait{earlier: earlier}
	}
	err := w.post(ctx, ep, id, ct.Body)
	if err == nil {
		w.callbackDone(ctx, ct, id, "delivered")
		return nil
	}
	w.metrics.callbacks.WithLabelValues(ct.Producer, "failed").Inc()
	if w.now().Sub(ct.CreatedAt) >= cb.MaxAge {
		w.callbackDone(ctx, ct, id, "gave_up")
		w.opts.Logger.Warn("callback given up", "producer", ct.Producer, "action_id", ct.ActionID, "type", ct.Type, "error", err)
		return fmt.Errorf("%w; failing since %s: %w", err, ct.CreatedAt.Format(time.RFC3339), asynq.SkipRetry)
	}
	return err
}

// cbAcquire takes a delivery slot of the process and of the producer,
// without waiting.
func (w *Worker) cbAcquire(producer string) (release func(), ok bool) {
	cb := w.opts.Callbacks
	w.cbMu.Lock()
	defer w.cbMu.Unlock()
	if w.cbTotal >= cb.MaxInFlight || w.cbPer[producer] >= cb.MaxInFlightPerProducer {
		return nil, false
	}
	w.cbTotal++
	w.cbPer[producer]++
	return func() {
		w.cbMu.Lock()
		defer w.cbMu.Unlock()
		w.cbTotal--
		w.cbPer[producer]--
	}, true
}

// callbackDone clears the delivery's marks: the next one of the action
// may go, and it no longer counts as undelivered.
func (w *Worker) callbackDone(ctx context.Context, ct callbackTask, id, outcome string) {
	w.rdb.ZRem(ctx, cbPendingKey(ct.ActionID), id)
	w.rdb.ZRem(ctx, cbUndeliveredKey(ct.Producer), id)
	w.metrics.callbacks.WithLabelValues(ct.Producer, outcome).Inc()
}

// earlierPending returns the id of an earlier delivery of the same action
// that may still be sent. A mark whose task is gone, done or archived (a
// crash between mark and enqueue, a delivery given up) is cleared.
func (w *Worker) earlierPending(ctx context.Context, ct callbackTask) (string, error) {
	ids, err := w.rdb.ZRangeByScore(ctx, cbPendingKey(ct.ActionID), &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprintf("(%d", ct.Sequence)}).Result()
	if err != nil {
		return "", fmt.Errorf("read earlier deliveries: %w", err)
	}
	for _, e := range ids {
		ti, err := w.cbInspector.GetTaskInfo(QueueCallbacks, e)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound),
			err == nil && (ti.State == asynq.TaskStateCompleted || ti.State == asynq.TaskStateArchived):
			w.rdb.ZRem(ctx, cbPendingKey(ct.ActionID), e)
		case err != nil:
			return "", fmt.Errorf("read earlier delivery %s: %w", e, err)
		default:
			return e, nil
		}
	}
	return "", nil
}

// post sends one signed delivery. Redirects are not followed (a 3xx is a
// failure) and at most MaxResponseBytes of the answer are read.
func (w *Worker) post(ctx context.Context, ep CallbackEndpoint, id string, body []byte) error {
	cb := w.opts.Callbacks
	ctx, cancel := context.WithTimeout(ctx, cb.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL.String(), strings.NewReader(string(body)))
	if err != nil {
		return &errCallbackFailed{reason: "building the request: " + err.Error()}
	}
	at := w.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "oktaq-callbacks")
	req.Header.Set(HeaderWebhookID, id)
	req.Header.Set(HeaderWebhookTimestamp, fmt.Sprint(at.Unix()))
	req.Header.Set(HeaderWebhookSignature, ep.Signer.Sign(id, at, body))
	resp, err := w.cbHTTP.Do(req)
	if err != nil {
		return &errCallbackFailed{reason: redactURL(err, ep)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, cb.MaxResponseBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &errCallbackFailed{reason: fmt.Sprintf("receiver answered %d", resp.StatusCode)}
	}
	return nil
}

// redactURL keeps the query (it may hold a token) out of the error.
func redactURL(err error, ep CallbackEndpoint) string {
	s := err.Error()
	if ep.URL.RawQuery != "" {
		s = strings.ReplaceAll(s, ep.URL.String(), ep.URL.Scheme+"://"+ep.URL.Host+ep.URL.Path+"?[redacted]")
	}
	return s
}
