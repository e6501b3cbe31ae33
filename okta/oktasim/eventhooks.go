package oktasim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"time"
)

// Okta's Event Hooks API and its deliveries. A hook is created ACTIVE and
// UNVERIFIED; verify sends the one-time GET with the challenge header;
// only ACTIVE, VERIFIED hooks get events. Deliveries are driven by
// DeliverEvents (tests call it: no wall clock) or RunEventDelivery (the
// `oktaq sim` process). They behave as Okta's: at least once, sometimes
// twice, out of order, after a delay, with one retry after a 5xx or a
// timeout and none after a 4xx.

// Limits Okta documents for event hooks.
const (
	MaxActiveEventHooks   = 25
	MaxEventTypesPerHook  = 300
	eventHookTimeout      = 3 * time.Second
	verificationHeader    = "x-okta-verification-challenge"
	eventHookEnvelopeType = "com.okta.event_hook"
)

// EventHookOptions shape deliveries. The zero value delivers each due
// event once, oldest first, one event per POST.
type EventHookOptions struct {
	// Delay: an event is due this long after it happened, on the
	// simulator's clock.
	Delay time.Duration
	// DuplicateEvery: every Nth event delivered is sent again in a later
	// POST of the same DeliverEvents (same uuid).
	DuplicateEvery int
	// Reverse sends the due events newest first.
	Reverse bool
	// Hold keeps every event queued: DeliverEvents sends nothing until
	// Hold is lifted (a delay as long as a test wants).
	Hold bool
	// Batch is the most events in one POST (default 1).
	Batch int
	// Client sends the deliveries (default: 3s timeout, no redirects).
	Client *http.Client
}

type eventHook struct {
	id, name, uri, authKey, authValue string
	headers                           []map[string]string
	events                            []string
	status, verification              string
	created, updated                  time.Time
}

type queuedEvent struct {
	hookID string
	ev     LogEvent
	due    time.Time
}

// HookDelivery is one POST the simulator made to a hook.
type HookDelivery struct {
	HookID   string
	EventIDs []string // uuids, in the order sent
	Status   int      // 0: no answer
	Retry    bool     // the one retry after a 5xx or no answer
}

type hookStore struct {
	hooks      map[string]*eventHook
	order      []string
	log        []LogEvent
	queue      []queuedEvent
	opts       EventHookOptions
	delivered  int
	deliveries []HookDelivery
}

// hookState returns the event hook state (s.mu held).
func (s *Sim) hookState() *hookStore {
	if s.hooks == nil {
		s.hooks = &hookStore{hooks: map[string]*eventHook{}}
	}
	return s.hooks
}

// SetEventHookOptions changes how events are delivered from now on.
func (s *Sim) SetEventHookOptions(o EventHookOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookState().opts = o
}

// HookDeliveries returns every POST made to a hook so far.
func (s *Sim) HookDeliveries() []HookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]HookDelivery(nil), s.hookState().deliveries...)
}

// PendingEvents is how many events wait for delivery (due or not).
func (s *Sim) PendingEvents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hookState().queue)
}

func (h *hookStore) queueEvent(ev LogEvent, now time.Time) {
	if notHookEligible[ev.EventType] {
		return
	}
	for _, id := range h.order {
		hk := h.hooks[id]
		if hk.status != "ACTIVE" || hk.verification != "VERIFIED" || !contains(hk.events, ev.EventType) {
			continue
		}
		h.queue = append(h.queue, queuedEvent{hookID: id, ev: ev, due: now.Add(h.opts.Delay)})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type hookPost struct {
	hook   eventHook
	events []LogEvent
}

// DeliverEvents sends every due event to its hooks now and returns how
// many POSTs were answered 2xx. Errors of receivers are recorded in
// HookDeliveries, not returned.
func (s *Sim) DeliverEvents(ctx context.Context) int {
	s.mu.Lock()
	h := s.hookState()
	if h.opts.Hold {
		s.mu.Unlock()
		return 0
	}
	now := s.now()
	var due []queuedEvent
	rest := h.queue[:0:0]
	for _, q := range h.queue {
		if q.due.After(now) {
			rest = append(rest, q)
		} else {
			due = append(due, q)
		}
	}
	h.queue = rest
	sort.SliceStable(due, func(i, j int) bool { return due[i].ev.Published.Before(due[j].ev.Published) })
	if h.opts.Reverse {
		for i, j := 0, len(due)-1; i < j; i, j = i+1, j-1 {
			due[i], due[j] = due[j], due[i]
		}
	}
	batch := max(1, h.opts.Batch)
	var posts, dups []hookPost
	for _, q := range due {
		hk, ok := h.hooks[q.hookID]
		if !ok {
			continue
		}
		if n := len(posts); n > 0 && posts[n-1].hook.id == hk.id && len(posts[n-1].events) < batch {
			posts[n-1].events = append(posts[n-1].events, q.ev)
		} else {
			posts = append(posts, hookPost{hook: *hk, events: []LogEvent{q.ev}})
		}
		h.delivered++
		if h.opts.DuplicateEvery > 0 && h.delivered%h.opts.DuplicateEvery == 0 {
			dups = append(dups, hookPost{hook: *hk, events: []LogEvent{q.ev}})
		}
	}
	client := h.opts.Client
	base := s.baseURL
	s.mu.Unlock()

	if client == nil {
		client = &http.Client{Timeout: eventHookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ok := 0
	for _, p := range append(posts, dups...) {
		for _, retry := range []bool{false, true} {
			status := postEvents(ctx, client, base, p)
			s.mu.Lock()
			h.deliveries = append(h.deliveries, HookDelivery{HookID: p.hook.id, EventIDs: uuids(p.events), Status: status, Retry: retry})
			s.mu.Unlock()
			if status >= 200 && status <= 299 {
				ok++
			}
			if status != 0 && status < 500 {
				break // answered, or a 4xx: Okta does not retry
			}
		}
	}
	return ok
}

func uuids(evs []LogEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.UUID
	}
	return out
}

// postEvents sends one delivery in Okta's envelope; 0 means no answer.
func postEvents(ctx context.Context, client *http.Client, base string, p hookPost) int {
	body, _ := json.Marshal(map[string]any{
		"eventType": eventHookEnvelopeType, "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
		"source": base + "/api/v1/eventHooks/" + p.hook.id, "eventId": newUUID(),
		"data": map[string]any{"events": p.events}, "eventTime": time.Now().UTC().Format(time.RFC3339),
		"contentType": "application/json",
	})
	ctx, cancel := context.WithTimeout(ctx, eventHookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.hook.uri, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	p.hook.setHeaders(req)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (hk *eventHook) setHeaders(req *http.Request) {
	req.Header.Set("User-Agent", "Okta Event Hooks")
	for _, kv := range hk.headers {
		req.Header.Set(kv["key"], kv["value"])
	}
	if hk.authKey != "" {
		req.Header.Set(hk.authKey, hk.authValue)
	}
}

// RunEventDelivery delivers due events every interval until ctx ends
// (the `oktaq sim` process; tests call DeliverEvents).
func (s *Sim) RunEventDelivery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.DeliverEvents(ctx)
		}
	}
}
