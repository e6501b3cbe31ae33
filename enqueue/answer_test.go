package enqueue

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The hand-written answer to an accepted action is what writeJSON would
// write, headers and bytes, whatever its strings hold.
func TestActionRefEncoding(t *testing.T) {
	for _, info := range []*Info{
		{ID: "k-f8399e5a5160f21fd9acf01196d5fb50", Action: "user.suspend", State: StatePending},
		{ID: "0b3c8a4e-2f1d-4c6b-9a7e-5d2f1c0b9a8e", Action: "user.groups.update", State: StateScheduled},
		{ID: `a"b\c<d>&e`, Action: "x\u2028y", State: "é\x01"},
		{ID: "a/b c?d", Action: "\xff", State: ""},
	} {
		want := httptest.NewRecorder()
		ref := refOf(info)
		want.Header().Set("Location", ref.Links.Self)
		writeJSON(want, http.StatusAccepted, ref)
		got := httptest.NewRecorder()
		writeActionRef(got, http.StatusAccepted, ref)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("%+v: got %d %q, want %d %q", info, got.Code, got.Body, want.Code, want.Body)
		}
		for _, h := range []string{"Location", "Content-Type", "Content-Length"} {
			if got.Header().Get(h) != want.Header().Get(h) || len(got.Header()) != len(want.Header()) {
				t.Errorf("%+v: header %s %q, want %q (all: %v, want %v)", info, h, got.Header().Get(h), want.Header().Get(h), got.Header(), want.Header())
			}
		}
	}
}
