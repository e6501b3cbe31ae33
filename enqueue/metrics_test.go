package enqueue

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The API counts each request under its route and status class, and
// times it under its route; a path no route takes is "unmatched".
func TestAPIRequestMetrics(t *testing.T) {
	c, _ := newTestClient(t)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewAPI(c, []Producer{NewProducer("helpdesk-a", tokenA)}, APIOptions{Registerer: reg}))
	defer srv.Close()
	s := &testAPI{Server: srv, c: c}
	for i, key := range []string{"M1", "M2", "M1"} {
		b, _ := json.Marshal(suspendBody("alice@example.com", key))
		if a := s.do(t, "POST", "/v1/actions", tokenA, "application/json", b); a.status != []int{202, 202, 200}[i] {
			t.Fatalf("post %d: %d %s", i, a.status, a.body)
		}
	}
	s.do(t, "POST", "/v1/actions", "wrong", "application/json", []byte(`{}`))
	s.do(t, "GET", "/v2/nothing", tokenA, "", nil)
	want := `
# HELP oktaq_api_requests_total HTTP API requests by route and status class.
# TYPE oktaq_api_requests_total counter
oktaq_api_requests_total{code_class="2xx",route="POST /v1/actions"} 3
oktaq_api_requests_total{code_class="4xx",route="POST /v1/actions"} 1
oktaq_api_requests_total{code_class="4xx",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "oktaq_api_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "oktaq_api_request_duration_seconds"); n != 2 {
		t.Errorf("%d duration series, want 2 (the route and unmatched)", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed := uint64(0)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "oktaq_api_request_duration_seconds" && m.GetLabel()[0].GetValue() == "POST /v1/actions" {
				timed = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if timed != 4 {
		t.Errorf("POST /v1/actions timed %d times, want 4", timed)
	}
}
