package oktasim

import (
	"maps"
	"net/http"
	"strings"
	"time"
)

// Okta's System Log events for the simulator's own changes. Each change a
// Management API call makes is logged as one LogEvent whose
// debugContext.debugData.requestId is the X-Okta-Request-Id of that call,
// and queued for every ACTIVE, VERIFIED event hook subscribed to its type
// (eventhooks.go delivers them).

// EventTypes lists the event types the simulator logs, by the call that
// makes them (okta-api-notes.md section 7).
var lifecycleEventTypes = map[string]string{
	"activate":                           "user.lifecycle.activate",
	"reactivate":                         "user.lifecycle.reactivate",
	"deactivate":                         "user.lifecycle.deactivate",
	"suspend":                            "user.lifecycle.suspend",
	"unsuspend":                          "user.lifecycle.unsuspend",
	"unlock":                             "user.account.unlock_by_admin",
	"reset_password":                     "user.account.reset_password",
	"expire_password":                    "user.account.expire_password",
	"expire_password_with_temp_password": "user.account.expire_password",
	"reset_factors":                      "user.mfa.factor.reset_all",
}

// notHookEligible are logged but never delivered through an event hook:
// Okta's Event Types catalog does not mark them event-hook-eligible.
var notHookEligible = map[string]bool{"user.account.expire_password": true}

// eligibleEventTypes are the types a hook may subscribe to in the
// simulator.
func eligibleEventTypes() map[string]bool {
	out := map[string]bool{
		"user.session.clear": true, "group.user_membership.add": true, "group.user_membership.remove": true,
		"application.user_membership.add": true, "application.user_membership.remove": true,
		"user.lifecycle.delete.initiated": true, "user.account.lock": true, "user.account.unlock": true,
		"user.mfa.factor.deactivate": true, "system.org.rate_limit.warning": true, "system.org.rate_limit.violation": true,
	}
	for _, t := range lifecycleEventTypes {
		if !notHookEligible[t] {
			out[t] = true
		}
	}
	return out
}

// LogEvent is a System Log event as Okta publishes it (the fields a
// consumer of event hooks reads).
type LogEvent struct {
	UUID           string        `json:"uuid"`
	Published      time.Time     `json:"published"`
	EventType      string        `json:"eventType"`
	Version        string        `json:"version"`
	DisplayMessage string        `json:"displayMessage"`
	Severity       string        `json:"severity"`
	Actor          LogActor      `json:"actor"`
	Outcome        LogOutcome    `json:"outcome"`
	Target         []LogTarget   `json:"target"`
	Transaction    LogTx         `json:"transaction"`
	DebugContext   LogDebugCtx   `json:"debugContext"`
	Client         LogClient     `json:"client"`
	LegacyType     string        `json:"legacyEventType,omitempty"`
	AuthContext    LogAuthCtx    `json:"authenticationContext"`
	Security       LogSecurity   `json:"securityContext"`
	Request        LogRequestCtx `json:"request"`
}

// The parts of a LogEvent.
type (
	LogActor struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		AlternateID string `json:"alternateId"`
		DisplayName string `json:"displayName"`
	}
	LogOutcome struct {
		Result string `json:"result"`
		Reason string `json:"reason,omitempty"`
	}
	LogTarget struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		AlternateID string `json:"alternateId"`
		DisplayName string `json:"displayName"`
	}
	LogTx struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	LogDebugCtx struct {
		DebugData map[string]string `json:"debugData"`
	}
	LogClient struct {
		IPAddress string `json:"ipAddress"`
		UserAgent struct {
			RawUserAgent string `json:"rawUserAgent"`
		} `json:"userAgent"`
	}
	LogAuthCtx struct {
		ExternalSessionID string `json:"externalSessionId"`
	}
	LogSecurity   struct{}
	LogRequestCtx struct {
		IPChain []map[string]string `json:"ipChain"`
	}
)

// pendingEvent is a change observed before its handler ran; finish turns
// it into a LogEvent once the answer is known.
type pendingEvent struct {
	typ     string
	user    *user
	group   *group
	app     *app
	before  map[string]bool // the group's or app's members before the call
	deleted bool            // DELETE on a DEPROVISIONED user
}

// beginEvent looks at a Management API call before it runs (s.mu held).
func (s *Sim) beginEvent(r *http.Request, rt route, params map[string]string) *pendingEvent {
	if r.Method == http.MethodGet {
		return nil
	}
	u := s.org.findUser(params["id"])
	switch {
	case strings.HasPrefix(rt.pattern, "/api/v1/users/{id}/lifecycle/"):
		typ := lifecycleEventTypes[strings.TrimPrefix(rt.pattern, "/api/v1/users/{id}/lifecycle/")]
		if typ == "" || u == nil {
			return nil
		}
		return &pendingEvent{typ: typ, user: u}
	case rt.pattern == "/api/v1/users/{id}/sessions" && u != nil:
		return &pendingEvent{typ: "user.session.clear", user: u}
	case rt.pattern == "/api/v1/users/{id}" && u != nil:
		if u.status == StatusDeprovisioned {
			return &pendingEvent{typ: "user.lifecycle.delete.initiated", user: u, deleted: true}
		}
		return &pendingEvent{typ: "user.lifecycle.deactivate", user: u}
	case rt.pattern == "/api/v1/groups/{gid}/users/{uid}":
		g, u := s.org.groups[params["gid"]], s.org.users[params["uid"]]
		if g == nil || u == nil {
			return nil
		}
		typ := "group.user_membership.add"
		if r.Method == http.MethodDelete {
			typ = "group.user_membership.remove"
		}
		return &pendingEvent{typ: typ, user: u, group: g, before: maps.Clone(g.members)}
	case strings.HasPrefix(rt.pattern, "/api/v1/apps/{aid}/users"):
		a := s.org.apps[params["aid"]]
		if a == nil {
			return nil
		}
		typ := "application.user_membership.add"
		if r.Method == http.MethodDelete {
			typ = "application.user_membership.remove"
		}
		before := map[string]bool{}
		for id := range a.users {
			before[id] = true
		}
		return &pendingEvent{typ: typ, user: s.org.users[params["uid"]], app: a, before: before}
	}
	return nil
}

// finishEvent logs the event of a call that changed something (s.mu held).
func (s *Sim) finishEvent(p *pendingEvent, reqID, principal string, status int, now time.Time) {
	if p == nil || status < 200 || status > 299 {
		return
	}
	targets := []LogTarget{}
	switch {
	case p.group != nil:
		if p.before[p.user.id] == p.group.members[p.user.id] {
			return // already a member, or already not: nothing logged
		}
		targets = append(targets, userTarget(p.user), LogTarget{ID: p.group.id, Type: "UserGroup",
			AlternateID: "unknown", DisplayName: p.group.name})
	case p.app != nil:
		u := p.user
		if u == nil { // POST: the new assignment names the user
			for id := range p.app.users {
				if !p.before[id] {
					u = s.org.users[id]
				}
			}
		} else if _, still := p.app.users[u.id]; still == p.before[u.id] {
			return
		}
		if u == nil {
			return
		}
		targets = append(targets, userTarget(u), LogTarget{ID: p.app.id, Type: "AppInstance",
			AlternateID: p.app.label, DisplayName: p.app.label})
	default:
		targets = append(targets, userTarget(p.user))
	}
	s.logEvent(p.typ, reqID, principal, targets, now)
}

func userTarget(u *user) LogTarget {
	return LogTarget{ID: u.id, Type: "User", AlternateID: u.login, DisplayName: strings.TrimSpace(u.first + " " + u.last)}
}

// logEvent appends an event to the System Log and queues it for the hooks
// (s.mu held).
func (s *Sim) logEvent(typ, reqID, principal string, targets []LogTarget, now time.Time) LogEvent {
	actor := LogActor{ID: strings.TrimPrefix(principal, "client:"), Type: "PublicClientApp",
		AlternateID: strings.TrimPrefix(principal, "client:"), DisplayName: "oktaq"}
	if principal == "" || strings.HasPrefix(principal, "admin:") {
		actor = LogActor{ID: "00u" + randomString(17), Type: "User", AlternateID: "admin@example.com", DisplayName: "Okta Admin"}
	}
	ev := LogEvent{
		UUID: newUUID(), Published: now.UTC(), EventType: typ, Version: "0",
		DisplayMessage: displayMessage(typ), Severity: "INFO", Actor: actor,
		Outcome: LogOutcome{Result: "SUCCESS"}, Target: targets,
		Transaction:  LogTx{Type: "WEB", ID: reqID},
		DebugContext: LogDebugCtx{DebugData: map[string]string{"requestId": reqID}},
		Request:      LogRequestCtx{IPChain: []map[string]string{}},
	}
	ev.Client.IPAddress = "127.0.0.1"
	ev.Client.UserAgent.RawUserAgent = "oktaq"
	hs := s.hookState()
	hs.log = append(hs.log, ev)
	hs.queueEvent(ev, now)
	return ev
}

func displayMessage(typ string) string {
	switch typ {
	case "user.lifecycle.suspend":
		return "Suspend Okta user"
	case "user.lifecycle.unsuspend":
		return "Unsuspend Okta user"
	case "user.lifecycle.deactivate":
		return "Deactivate Okta user"
	case "user.lifecycle.activate":
		return "Activate Okta user"
	case "user.session.clear":
		return "Clear user session"
	case "group.user_membership.add":
		return "Add user to group membership"
	case "group.user_membership.remove":
		return "Remove user from group membership"
	}
	return typ
}

func newUUID() string {
	b := []byte(randomString(32))
	for i := range b { // lower-case hex-looking, 8-4-4-4-12
		b[i] = "0123456789abcdef"[int(b[i])%16]
	}
	return string(b[:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}

// Events returns the System Log so far (every event, delivered or not).
func (s *Sim) Events() []LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogEvent(nil), s.hookState().log...)
}

// ConsoleSuspend suspends an ACTIVE user as an admin would in the Okta
// console: a change no API client of the simulator made, logged with a
// request id no client ever saw.
func (s *Sim) ConsoleSuspend(idOrLogin string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	u := s.org.findUser(idOrLogin)
	if u == nil || u.status != StatusActive {
		return false
	}
	u.status, u.statusChanged, u.lastUpdated = StatusSuspended, now, now
	s.logEvent("user.lifecycle.suspend", randomString(27), "admin:console", []LogTarget{userTarget(u)}, now)
	return true
}
