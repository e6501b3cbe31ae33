package oktasim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// The Event Hooks API (okta.eventHooks.manage; GETs okta.eventHooks.read).
func (s *Sim) eventHookRoutes() []route {
	const r, m = "okta.eventHooks.read", "okta.eventHooks.manage"
	return []route{
		{"GET", "/api/v1/eventHooks", r, "eventhook.read", s.listEventHooks},
		{"POST", "/api/v1/eventHooks", m, "eventhook.manage", s.createEventHook},
		{"GET", "/api/v1/eventHooks/{hid}", r, "eventhook.read", s.getEventHook},
		{"DELETE", "/api/v1/eventHooks/{hid}", m, "eventhook.manage", s.deleteEventHook},
		{"POST", "/api/v1/eventHooks/{hid}/lifecycle/verify", m, "eventhook.manage", s.verifyEventHook},
		{"POST", "/api/v1/eventHooks/{hid}/lifecycle/activate", m, "eventhook.manage", s.setEventHookStatus("ACTIVE")},
		{"POST", "/api/v1/eventHooks/{hid}/lifecycle/deactivate", m, "eventhook.manage", s.setEventHookStatus("INACTIVE")},
	}
}

type eventHookBody struct {
	Name   string `json:"name"`
	Events struct {
		Type  string   `json:"type"`
		Items []string `json:"items"`
	} `json:"events"`
	Channel struct {
		Type    string `json:"type"`
		Version string `json:"version"`
		Config  struct {
			URI        string              `json:"uri"`
			Headers    []map[string]string `json:"headers"`
			AuthScheme *struct {
				Type  string `json:"type"`
				Key   string `json:"key"`
				Value string `json:"value"`
			} `json:"authScheme"`
		} `json:"config"`
	} `json:"channel"`
}

func invalidHook(cause string) response {
	return oktaErr(http.StatusBadRequest, "E0000001", "Api validation failed: eventHook", cause)
}

func (s *Sim) createEventHook(c *call) response {
	var b eventHookBody
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&b); err != nil {
		return oktaErr(http.StatusBadRequest, "E0000003", "The request body was not well-formed.")
	}
	h := s.hookState()
	eligible := eligibleEventTypes()
	switch {
	case b.Name == "":
		return invalidHook("name: The field cannot be left blank")
	case b.Events.Type != "EVENT_TYPE":
		return invalidHook("events.type: must be EVENT_TYPE")
	case len(b.Events.Items) == 0:
		return invalidHook("events.items: at least one event type is required")
	case len(b.Events.Items) > MaxEventTypesPerHook:
		return invalidHook(fmt.Sprintf("events.items: at most %d event types", MaxEventTypesPerHook))
	case b.Channel.Type != "HTTP" || b.Channel.Version != "1.0.0":
		return invalidHook("channel: type HTTP, version 1.0.0")
	}
	for _, t := range b.Events.Items {
		if !eligible[t] {
			return invalidHook(fmt.Sprintf("events.items: %s is not an event-hook-eligible event type", t))
		}
	}
	if u, err := url.Parse(b.Channel.Config.URI); err != nil || !(u.Scheme == "https" || u.Scheme == "http" && loopbackHost(u.Hostname())) {
		return invalidHook("channel.config.uri: must be an https URL")
	}
	active := 0
	for _, hk := range h.hooks {
		if hk.status == "ACTIVE" {
			active++
		}
	}
	if active >= MaxActiveEventHooks {
		return invalidHook(fmt.Sprintf("Your org already has the maximum of %d active event hooks", MaxActiveEventHooks))
	}
	hk := &eventHook{id: "who" + randomString(17), name: b.Name, uri: b.Channel.Config.URI, headers: b.Channel.Config.Headers,
		events: b.Events.Items, status: "ACTIVE", verification: "UNVERIFIED", created: c.now, updated: c.now}
	if a := b.Channel.Config.AuthScheme; a != nil {
		hk.authKey, hk.authValue = a.Key, a.Value
	}
	h.hooks[hk.id] = hk
	h.order = append(h.order, hk.id)
	return response{status: http.StatusOK, body: s.eventHookJSON(hk)}
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

func (s *Sim) eventHookJSON(hk *eventHook) map[string]any {
	self := s.baseURL + "/api/v1/eventHooks/" + hk.id
	cfg := map[string]any{"uri": hk.uri, "headers": hk.headers, "method": "POST"}
	if hk.headers == nil {
		cfg["headers"] = []any{}
	}
	if hk.authKey != "" {
		cfg["authScheme"] = map[string]any{"type": "HEADER", "key": hk.authKey} // the value is never returned
	}
	return map[string]any{
		"id": hk.id, "status": hk.status, "verificationStatus": hk.verification, "name": hk.name,
		"description": nil, "created": hk.created, "createdBy": "00u" + "simadmin00000000", "lastUpdated": hk.updated,
		"events":  map[string]any{"type": "EVENT_TYPE", "items": hk.events, "filter": nil},
		"channel": map[string]any{"type": "HTTP", "version": "1.0.0", "config": cfg},
		"_links": map[string]any{"self": map[string]any{"href": self},
			"verify":     map[string]any{"href": self + "/lifecycle/verify", "hints": map[string]any{"allow": []string{"POST"}}},
			"deactivate": map[string]any{"href": self + "/lifecycle/deactivate", "hints": map[string]any{"allow": []string{"POST"}}}},
	}
}

func (s *Sim) hookParam(c *call) (*eventHook, response) {
	hk := s.hookState().hooks[c.params["hid"]]
	if hk == nil {
		return nil, notFound(c.params["hid"], "EventHook")
	}
	return hk, response{}
}

func (s *Sim) listEventHooks(c *call) response {
	h := s.hookState()
	out := []any{}
	for _, id := range h.order {
		out = append(out, s.eventHookJSON(h.hooks[id]))
	}
	return response{status: http.StatusOK, body: out}
}

func (s *Sim) getEventHook(c *call) response {
	hk, r := s.hookParam(c)
	if hk == nil {
		return r
	}
	return response{status: http.StatusOK, body: s.eventHookJSON(hk)}
}

func (s *Sim) deleteEventHook(c *call) response {
	hk, r := s.hookParam(c)
	if hk == nil {
		return r
	}
	if hk.status == "ACTIVE" {
		return oktaErr(http.StatusBadRequest, "E0000001", "Api validation failed: eventHook", "Deactivate the event hook before deleting it")
	}
	h := s.hookState()
	delete(h.hooks, hk.id)
	for i, id := range h.order {
		if id == hk.id {
			h.order = append(h.order[:i], h.order[i+1:]...)
			break
		}
	}
	return noContent()
}

func (s *Sim) setEventHookStatus(status string) func(*call) response {
	return func(c *call) response {
		hk, r := s.hookParam(c)
		if hk == nil {
			return r
		}
		hk.status, hk.updated = status, c.now
		return response{status: http.StatusOK, body: s.eventHookJSON(hk)}
	}
}

// verifyEventHook sends the one-time GET with the challenge. s.mu is
// released while the receiver answers, so a slow receiver does not stop
// the org.
func (s *Sim) verifyEventHook(c *call) response {
	hk, r := s.hookParam(c)
	if hk == nil {
		return r
	}
	copied := *hk
	challenge := randomString(32)
	s.mu.Unlock()
	got, err := askChallenge(copied, challenge)
	s.mu.Lock()
	if err != nil || got != challenge {
		why := "the answer did not echo the challenge"
		if err != nil {
			why = err.Error()
		}
		return oktaErr(http.StatusBadRequest, "E0000001", "Api validation failed: eventHook", "Verification failed: "+why)
	}
	hk.verification, hk.updated = "VERIFIED", s.now()
	return response{status: http.StatusOK, body: s.eventHookJSON(hk)}
}

func askChallenge(hk eventHook, challenge string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventHookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hk.uri, nil)
	if err != nil {
		return "", err
	}
	hk.setHeaders(req)
	req.Header.Set(verificationHeader, challenge)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("no answer from %s", hk.uri)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %d", hk.uri, resp.StatusCode)
	}
	var v struct {
		Verification string `json:"verification"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v); err != nil {
		return "", fmt.Errorf("the answer is not JSON {\"verification\": ...}")
	}
	return v.Verification, nil
}
