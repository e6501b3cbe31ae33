package okta

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"
)

// newAPIClient builds an okta-sdk-golang APIClient that uses only what we
// give it. okta.NewConfiguration also reads ~/.okta/okta.yaml, a .okta.yaml
// beside the SDK source and every OKTA_* environment variable (envconfig
// over the whole Configuration, so even OKTA_HOST and OKTA_DEBUG, which
// would dump requests with their Authorization header to the log). So after
// NewConfiguration every field is set again, explicitly:
//
//   - auth: a placeholder token; the transport of hc replaces the
//     Authorization header on every request;
//   - the SDK's 429 retries off (they lose the response, replay POSTs and
//     sleep in a worker slot), its cache off, no proxy, no debug dump;
//   - Host keeps the port of baseURL (the SDK keeps only the host name).
func newAPIClient(baseURL string, mode AuthMode, hc *http.Client, timeout time.Duration) (*oktasdk.APIClient, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("base URL %q is not a URL", baseURL)
	}
	sdkMode := "Bearer"
	if mode == AuthAPIToken {
		sdkMode = "SSWS"
	}
	const placeholder = "set-by-oktaq-transport"
	cfg, err := oktasdk.NewConfiguration(
		oktasdk.WithOrgUrl(baseURL), oktasdk.WithToken(placeholder),
		oktasdk.WithAuthorizationMode(sdkMode), oktasdk.WithCache(false),
		oktasdk.WithRateLimitMaxRetries(0), oktasdk.WithRateLimitMaxBackOff(0),
		oktasdk.WithHttpClientPtr(hc))
	if err != nil {
		return nil, fmt.Errorf("okta sdk configuration: %w", err)
	}
	cfg.Host = u.Host
	cfg.Scheme = u.Scheme
	cfg.DefaultHeader = map[string]string{}
	cfg.UserAgent = "oktaq okta-sdk-golang/5.0.2"
	cfg.UserAgentExtra = ""
	cfg.Debug = false
	cfg.HTTPClient = hc
	cfg.PrivateKeySigner = nil
	cfg.CacheManager = nil
	cfg.OperationServers = map[string]oktasdk.ServerConfigurations{}
	cfg.Servers = oktasdk.ServerConfigurations{{URL: baseURL}}

	c := &cfg.Okta.Client
	*c = zeroClientConfig(c)
	c.OrgUrl = baseURL
	c.Token = placeholder
	c.AuthorizationMode = sdkMode
	c.Cache.Enabled = false
	c.RateLimit.MaxRetries = 0
	c.RateLimit.MaxBackoff = 0
	c.RequestTimeout = int64((timeout + time.Second - 1) / time.Second)
	cfg.Okta.Testing.DisableHttpsCheck = false
	cfg.Context = context.WithValue(context.Background(), oktasdk.ContextAPIKeys,
		map[string]oktasdk.APIKey{"API_Token": {Key: placeholder, Prefix: sdkMode}})
	return oktasdk.NewAPIClient(cfg), nil
}

// zeroClientConfig returns the zero value of the SDK's anonymous client
// configuration struct.
func zeroClientConfig[T any](*T) T {
	var zero T
	return zero
}
