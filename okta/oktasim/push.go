package oktasim

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// Okta Verify push, as the factor verify API does it: POST
// /api/v1/users/{uid}/factors/{fid}/verify on a push factor answers 201
// with factorResult WAITING and a poll link to
// /api/v1/users/{uid}/factors/{fid}/transactions/{tid}, which answers
// WAITING until the user answers on the phone (SUCCESS or REJECTED) or
// the transaction times out (TIMEOUT, after PushTimeout: five minutes
// at Okta). Tests answer for the user with AnswerPush.

// PushTimeout is how long a push transaction waits for the user.
const PushTimeout = 5 * time.Minute

// Push factor results (factorResult).
const (
	PushWaiting  = "WAITING"
	PushSuccess  = "SUCCESS"
	PushRejected = "REJECTED"
	PushTimedOut = "TIMEOUT"
)

type pushTxn struct {
	id, userID, factorID string
	result               string
	created              time.Time
	seq                  int
}

// PushTransaction is one push sent, for tests.
type PushTransaction struct {
	ID, UserID, Login, FactorID string
	// Result is WAITING, SUCCESS, REJECTED or TIMEOUT.
	Result  string
	Created time.Time
}

func (s *Sim) pushRoutes() []route {
	const um, ur = "okta.users.manage", "okta.users.read"
	return []route{
		{"POST", "/api/v1/users/{id}/factors/{fid}/verify", um, "user.mfa.manage", s.verifyFactor},
		{"GET", "/api/v1/users/{id}/factors/{fid}/transactions/{tid}", ur, "user.read", s.pushStatus},
	}
}

func (s *Sim) findFactor(u *user, fid string) *factor {
	for i := range u.factors {
		if u.factors[i].id == fid {
			return &u.factors[i]
		}
	}
	return nil
}

func (s *Sim) verifyFactor(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	f := s.findFactor(u, c.params["fid"])
	if f == nil {
		return notFound(c.params["fid"], "UserFactor")
	}
	if f.typ != "push" {
		return validationFailed("factor", "the simulator verifies push factors only; Okta asks for a passCode for this one")
	}
	if u.status != "ACTIVE" && u.status != "PASSWORD_EXPIRED" && u.status != "RECOVERY" && u.status != "LOCKED_OUT" {
		return oktaErr(http.StatusForbidden, "E0000068", "Invalid Passcode/Answer")
	}
	if s.pushes == nil {
		s.pushes = map[string]*pushTxn{}
	}
	t := &pushTxn{id: newID("v2m"), userID: u.id, factorID: f.id, result: PushWaiting, created: c.now, seq: len(s.pushes)}
	s.pushes[t.id] = t
	resp := s.pushBody(t)
	resp.status = http.StatusCreated
	return resp
}

func (s *Sim) pushStatus(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	t := s.pushes[c.params["tid"]]
	if t == nil || t.userID != u.id || t.factorID != c.params["fid"] {
		return notFound(c.params["tid"], "Transaction")
	}
	if t.result == PushWaiting && c.now.Sub(t.created) >= PushTimeout {
		t.result = PushTimedOut
	}
	return s.pushBody(t)
}

func (s *Sim) pushBody(t *pushTxn) response {
	base := fmt.Sprintf("%s/api/v1/users/%s/factors/%s", s.baseURL, t.userID, t.factorID)
	links := map[string]any{"factor": map[string]any{"href": base}}
	if t.result == PushWaiting {
		links["poll"] = map[string]any{"href": base + "/transactions/" + t.id, "hints": map[string]any{"allow": []string{"GET"}}}
		links["cancel"] = map[string]any{"href": base + "/transactions/" + t.id, "hints": map[string]any{"allow": []string{"DELETE"}}}
	}
	return ok(map[string]any{"factorResult": t.result, "expiresAt": oktaTime(t.created.Add(PushTimeout)),
		"profile": map[string]any{"deviceType": "SmartPhone_IPhone", "name": "iPhone", "platform": "IOS"},
		"_links":  links})
}

// PushTransactions lists the pushes sent, oldest first.
func (s *Sim) PushTransactions() []PushTransaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PushTransaction, 0, len(s.pushes))
	for _, t := range s.pushes {
		login := ""
		if u := s.org.users[t.userID]; u != nil {
			login = u.login
		}
		out = append(out, PushTransaction{ID: t.id, UserID: t.userID, Login: login, FactorID: t.factorID, Result: t.result, Created: t.created})
	}
	sort.Slice(out, func(i, j int) bool { return s.pushes[out[i].ID].seq < s.pushes[out[j].ID].seq })
	return out
}

// AnswerPush answers a waiting push for the user: SUCCESS (approved on
// the phone), REJECTED, or TIMEOUT (the user never answered).
func (s *Sim) AnswerPush(txID, result string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.pushes[txID]
	switch {
	case t == nil:
		return fmt.Errorf("no push transaction %q", txID)
	case t.result != PushWaiting:
		return fmt.Errorf("push transaction %q is already %s", txID, t.result)
	case result != PushSuccess && result != PushRejected && result != PushTimedOut:
		return fmt.Errorf("answer %q: want SUCCESS, REJECTED or TIMEOUT", result)
	}
	t.result = result
	return nil
}
