package oktasim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta/oktasim"
)

func TestParseFaults(t *testing.T) {
	good := []struct {
		spec string
		want oktasim.Faults
	}{
		{"", oktasim.Faults{Match: "/api/"}},
		{"5xx=0.25,drop_before=0.05,drop_after=0.15,latency=50ms-200ms", oktasim.Faults{Match: "/api/",
			ErrorRate: 0.25, DropBefore: 0.05, DropAfter: 0.15, Latency: 50 * time.Millisecond, LatencyJitter: 150 * time.Millisecond}},
		{" token_5xx=1 , latency=10ms", oktasim.Faults{Match: "/api/", TokenErrorRate: 1, Latency: 10 * time.Millisecond}},
	}
	for _, tc := range good {
		got, err := oktasim.ParseFaults(tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("ParseFaults(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
		if again, err := oktasim.ParseFaults(got.String()); err != nil || again != got {
			t.Errorf("String() of %q = %q does not parse back: %+v, %v", tc.spec, got.String(), again, err)
		}
	}
	bad := []struct{ spec, wantInErr string }{
		{"5xx=1.5", "5xx"},
		{"5xx=lots", "5xx"},
		{"drop_after=-0.1", "drop_after"},
		{"latency=200ms-50ms", "latency"},
		{"latency=fast", "latency"},
		{"errors=0.1", `unknown key "errors"`},
		{"5xx", "key=value"},
		{"5xx=0.1,5xx=0.2", "twice"},
		{"5xx=0.6,drop_before=0.6", "may not exceed 1"},
	}
	for _, tc := range bad {
		if _, err := oktasim.ParseFaults(tc.spec); err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
			t.Errorf("ParseFaults(%q) = %v; want an error naming %q", tc.spec, err, tc.wantInErr)
		}
	}
}

// A seeded simulator meets the same faults for the same requests, and the
// request log says which calls were applied: a drop_after call was, a
// 5xx or drop_before call was not.
func TestSeededFaultsAndRequestLog(t *testing.T) {
	run := func() []oktasim.Request {
		sim, srv := start(t, oktasim.Options{FaultSeed: 42})
		f, err := oktasim.ParseFaults("5xx=0.3,drop_before=0.2,drop_after=0.3")
		if err != nil {
			t.Fatal(err)
		}
		sim.SetFaults(f)
		c := sswsClient(t, srv)
		for range 20 {
			// Suspend and unsuspend in turn; the SDK does not retry 5xx,
			// and replays a POST after a dropped connection.
			_, _ = c.UserAPI.SuspendUser(context.Background(), "alice@example.com").Execute()
			_, _ = c.UserAPI.UnsuspendUser(context.Background(), "alice@example.com").Execute()
		}
		return readLog(t, srv.URL)
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("two seeded runs logged %d and %d requests", len(a), len(b))
	}
	counts := map[string]int{}
	for i := range a {
		if a[i].Status != b[i].Status || a[i].Applied != b[i].Applied || a[i].Path != b[i].Path {
			t.Fatalf("request %d differs between seeded runs: %+v vs %+v", i, a[i], b[i])
		}
		switch {
		case a[i].Status == 0 && a[i].Applied:
			counts["dropped after"]++
		case a[i].Status == 0:
			counts["dropped before"]++
		case a[i].Status >= 500:
			counts["5xx"]++
			if a[i].Applied {
				t.Errorf("request %d: a 5xx is logged as applied", i)
			}
		case a[i].Status < 300:
			counts["ok"]++
			if !a[i].Applied {
				t.Errorf("request %d: a %d is logged as not applied", i, a[i].Status)
			}
		}
		if a[i].Principal == "" && a[i].Status != 0 && a[i].Status < 500 {
			t.Errorf("request %d has no principal: %+v", i, a[i])
		}
	}
	for _, k := range []string{"dropped after", "dropped before", "5xx", "ok"} {
		if counts[k] == 0 {
			t.Errorf("no %q request in %d: %v", k, len(a), counts)
		}
	}
}

func TestFaultsControlAndTokenFaults(t *testing.T) {
	_, srv := start(t, oktasim.Options{})
	put := func(spec string) int {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/__sim/faults", strings.NewReader(spec))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := put("bogus=1"); st != http.StatusBadRequest {
		t.Fatalf("PUT a bad spec: %d, want 400", st)
	}
	if st := put("token_5xx=1"); st != http.StatusOK {
		t.Fatalf("PUT token_5xx=1: %d", st)
	}
	token := func() int {
		resp, err := srv.Client().PostForm(srv.URL+"/oauth2/v1/token", map[string][]string{"grant_type": {"client_credentials"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := token(); st < 500 {
		t.Fatalf("token endpoint with token_5xx=1 answered %d", st)
	}
	// The API is untouched by token faults.
	if r := do(t, srv, "GET", "/api/v1/users/alice@example.com"); r.StatusCode != 200 {
		t.Fatalf("API under token_5xx: %d", r.StatusCode)
	}
	put("")
	if st := token(); st >= 500 {
		t.Fatalf("token endpoint after the faults were cleared: %d", st)
	}
}

func readLog(t *testing.T, base string) []oktasim.Request {
	t.Helper()
	resp, err := http.Get(base + "/__sim/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []oktasim.Request
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var r oktasim.Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("request log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}
