package okta

import (
	"context"
	"net/http"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"
)

// read sends GET path (each segment escaped by the caller, a query
// allowed) as the SDK would, through the SDK's own *http.Client, and
// returns the classified call, whose body the caller decodes. It is for
// reads whose SDK model we never look at: the SDK decodes GET
// /users/{id} twice (UserGetSingleton into its struct, then into a map
// of additional properties), ~110 µs of CPU per action, 9% of the
// worker's in BenchmarkWorkerThroughput, for a model getUser then
// ignores. Every other call still goes through okta-sdk-golang.
//
// The request is the SDK's: the same client and transport (token, DPoP
// proof, limiter grant, call record, dry runs), URL and headers (Accept
// and the SDK's User-Agent; the transport sets Authorization), no body,
// no retries (they are off in newAPIClient).
func (e *Executor) read(ctx context.Context, path string) (*call, error) {
	return e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.conn.BaseURL+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header = http.Header{
			"Accept":     {"application/json"},
			"User-Agent": {oktasdk.NewUserAgent(e.api.GetConfig()).String()},
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			return nil, err
		}
		// The transport has read the body into the call record.
		return nil, resp.Body.Close()
	})
}
