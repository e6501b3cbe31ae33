package okta

import (
	"encoding/json"
	"testing"
)

// A user's _links are kept by name only, and read alike from what Okta
// sends, from a journal or view cache written by an earlier build (with
// the hrefs) and from one written now.
func TestUserLinksKeptByName(t *testing.T) {
	okta := `{"id":"00u1","_links":{"resetFactors":{"href":"https://x/api/v1/users/00u1/lifecycle/reset_factors","method":"POST"},` +
		`"self":{"href":"https://x/api/v1/users/00u1"},"logo":[{"name":"medium","href":"https://x/l.png"}]}}`
	var u oktaUser
	if err := json.Unmarshal([]byte(okta), &u); err != nil {
		t.Fatal(err)
	}
	if !u.has("resetFactors") || !u.has("logo") || u.has("suspend") {
		t.Fatalf("links %v", u.Links)
	}
	b, err := json.Marshal(&u)
	if err != nil {
		t.Fatal(err)
	}
	var again struct {
		Links map[string]json.RawMessage `json:"_links"`
	}
	if err := json.Unmarshal(b, &again); err != nil || len(again.Links) != 3 || string(again.Links["resetFactors"]) != "{}" {
		t.Fatalf("written %s (%v)", b, err)
	}
	var back oktaUser
	if err := json.Unmarshal(b, &back); err != nil || !back.has("resetFactors") || back.has("suspend") {
		t.Fatalf("read back %v (%v)", back.Links, err)
	}
}
