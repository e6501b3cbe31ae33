package oktasim

import (
	"sort"
	"strings"
	"time"
)

// User is a snapshot of a simulated user, for test assertions.
type User struct {
	ID, Login, Email      string
	Status                string
	TransitioningToStatus string
	Groups                []string // group ids, sorted
	Factors               int
	Sessions              int
	OAuthGrants           int
	Apps                  []string // app ids, sorted
	Provider              string   // credentials.provider.type
	BlockedUnknownDevices bool
}

// Request is one entry of the request log. GET /__sim/requests answers it
// as JSON lines with these names.
type Request struct {
	Time      time.Time `json:"time"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Query     string    `json:"query"`
	Principal string    `json:"principal"` // "ssws:<first 6 chars>", "client:<client_id>" or "" when unauthenticated
	Status    int       `json:"status"`    // 0: the connection was dropped without an answer
	RequestID string    `json:"request_id"`
	// Applied: Okta carried the request out (its handler answered below
	// 400), whether or not the answer reached the caller (drop_after).
	Applied bool `json:"applied"`
}

// Email records a message Okta would have sent, so tests can count them.
type Email struct {
	UserID string
	Kind   string // "activation", "reset_password" or "deactivation_admin"
	Time   time.Time
}

// User returns a snapshot of the user with this id or login.
func (s *Sim) User(idOrLogin string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.org.findUser(idOrLogin)
	if u == nil {
		return User{}, false
	}
	u.settle(s.now())
	snap := User{ID: u.id, Login: u.login, Email: u.email, Status: u.status,
		TransitioningToStatus: u.transitioning, Factors: len(u.factors),
		Sessions: u.sessions, OAuthGrants: u.grants, Provider: u.source, BlockedUnknownDevices: u.blocked}
	for gid := range u.groups {
		snap.Groups = append(snap.Groups, gid)
	}
	sort.Strings(snap.Groups)
	for _, a := range s.org.apps {
		if _, ok := a.users[u.id]; ok {
			snap.Apps = append(snap.Apps, a.id)
		}
	}
	sort.Strings(snap.Apps)
	return snap, true
}

// GroupID returns the id of the group with exactly this name, or "".
func (s *Sim) GroupID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.org.grpOrder {
		if s.org.groups[id].name == name {
			return id
		}
	}
	return ""
}

// AppID returns the id of the app with this label (case-insensitive), or "".
func (s *Sim) AppID(label string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.org.appOrder {
		if strings.EqualFold(s.org.apps[id].label, label) {
			return id
		}
	}
	return ""
}

// Requests returns a copy of the request log.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests clears the request log and the token request counter.
func (s *Sim) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.tokenReq = nil, 0
}

// InFlight counts requests being served now (in injected latency
// included), so a test can act while a call is under way.
func (s *Sim) InFlight() int { return int(s.inflight.Load()) }

// Emails returns the emails sent so far.
func (s *Sim) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Email(nil), s.emails...)
}

// TokenRequests counts POST /oauth2/v1/token calls (successful or not) since the last ResetRequests.
func (s *Sim) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReq
}

// StickTransition makes later activate/deactivate calls on the user asynchronous: for d the user
// keeps its old status and shows transitioningToStatus. Zero d makes them instant again.
func (s *Sim) StickTransition(userID string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.org.findUser(userID); u != nil {
		u.stick = d
	}
}

// SetUserStatus forces a status (e.g. LOCKED_OUT after failed sign-ins), bypassing the state machine.
func (s *Sim) SetUserStatus(idOrLogin, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.org.findUser(idOrLogin)
	if u == nil {
		return false
	}
	u.status, u.transitioning = status, ""
	u.statusChanged, u.lastUpdated = s.now(), s.now()
	return true
}

func (s *Sim) sendEmail(uid, kind string) {
	s.emails = append(s.emails, Email{UserID: uid, Kind: kind, Time: s.now()})
}
