package oktasim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/okta/oktasim"
)

const ssws = "test-ssws-token"

// start runs a simulator seeded with DemoSeed plus an SSWS token.
func start(t *testing.T, opts oktasim.Options) (*oktasim.Sim, *httptest.Server) {
	t.Helper()
	sim := oktasim.New(opts)
	seed := oktasim.DemoSeed()
	seed.APITokens = append(seed.APITokens, ssws)
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	t.Cleanup(srv.Close)
	return sim, srv
}

// sdk builds a real okta-sdk-golang client against the simulator.
func sdk(t *testing.T, srv *httptest.Server, mode, token string, extra ...okta.ConfigSetter) *okta.APIClient {
	t.Helper()
	setters := append([]okta.ConfigSetter{okta.WithOrgUrl(srv.URL), okta.WithToken(token),
		okta.WithAuthorizationMode(mode), okta.WithCache(false), okta.WithRateLimitMaxRetries(0),
		okta.WithTestingDisableHttpsCheck(true), okta.WithHttpClientPtr(srv.Client())}, extra...)
	cfg, err := okta.NewConfiguration(setters...)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	cfg.Host, cfg.Scheme = u.Host, "http"
	return okta.NewAPIClient(cfg)
}

func sswsClient(t *testing.T, srv *httptest.Server) *okta.APIClient {
	return sdk(t, srv, "SSWS", ssws)
}

// errCode returns the HTTP status and Okta errorCode of an SDK error ("" for no body).
func errCode(t *testing.T, resp *okta.APIResponse, err error) (int, string) {
	t.Helper()
	if err == nil {
		return resp.StatusCode, ""
	}
	var gerr *okta.GenericOpenAPIError
	if !errors.As(err, &gerr) {
		t.Fatalf("not an API error: %v", err)
	}
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	var e okta.Error
	if len(gerr.Body()) > 0 {
		if jerr := json.Unmarshal(gerr.Body(), &e); jerr != nil {
			t.Fatalf("error body %q: %v", gerr.Body(), jerr)
		}
	}
	return status, e.GetErrorCode()
}

// do sends a raw request with the SSWS token.
func do(t *testing.T, srv *httptest.Server, method, path string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSWS "+ssws)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func uid(t *testing.T, sim *oktasim.Sim, login string) string {
	t.Helper()
	u, ok := sim.User(login)
	if !ok {
		t.Fatalf("no user %s", login)
	}
	return u.ID
}
