package okta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// ExecutorOptions configure an Executor. Limiter is required; the rest
// have defaults: in-process token cache, default transport, 30 s per call.
type ExecutorOptions struct {
	// Redis shares OAuth tokens between workers; nil keeps them in this
	// process.
	Redis  redis.UniversalClient
	Logger *slog.Logger
	// Transport is the base round tripper; nil is a clone of
	// http.DefaultTransport without a proxy.
	Transport http.RoundTripper
	// RequestTimeout bounds each call to Okta; 0 means 30 s.
	RequestTimeout time.Duration
	// Clock is the local clock; nil is time.Now.
	Clock func() time.Time
	// OnCall is told about every call to Okta (for metrics). It must not
	// block.
	OnCall func(CallInfo)
	// Limiter grants every call to Okta first and answers the worker's
	// gate (Blocked); required. Production's is a *ratelimit.Limiter, which
	// shares the budget of all workers through Redis.
	Limiter CallLimiter
	// ProbeInterval is how long a failed token request stands for the
	// connection before the next probe; 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
}

// CallInfo describes one call to Okta, for metrics.
type CallInfo struct {
	Connection, Bucket, Method string
	// Status is the HTTP status, 0 when no answer came.
	Status           int
	Duration         time.Duration
	Limit, Remaining int
	// Reset is when the bucket resets, on the local clock; zero if Okta
	// sent no rate-limit headers.
	Reset time.Time
}

// Executor performs actions on one connection's Okta org. It is safe for
// concurrent use; create one per connection and share it.
type Executor struct {
	conn    *Connection
	api     *oktasdk.APIClient
	auth    authorizer
	limiter CallLimiter
	log     *slog.Logger
	clock   func() time.Time
	timeout time.Duration
	hc      *http.Client
	dpop    *dpopKey
}

// NewExecutor checks the connection and builds the SDK client, the token
// source of its auth mode. It does not call Okta; see
// CheckCredentials.
func NewExecutor(conn *Connection, opts ExecutorOptions) (*Executor, error) {
	if conn == nil {
		return nil, errors.New("okta: nil connection")
	}
	if err := conn.Check(); err != nil {
		return nil, err
	}
	if opts.Limiter == nil {
		return nil, fmt.Errorf("connection %q: no rate limiter: set ExecutorOptions.Limiter (ratelimit.New)", conn.Name)
	}
	mode, _ := conn.Credentials.Mode()
	e := &Executor{conn: conn, log: opts.Logger, clock: opts.Clock, timeout: opts.RequestTimeout, limiter: opts.Limiter}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("connection", conn.Name)
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.timeout <= 0 {
		e.timeout = 30 * time.Second
	}
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		// One org, many concurrent actions: keep a connection per worker
		// slot alive instead of Go's default of 2 idle per host, which
		// made every other call dial (and TLS-handshake) anew.
		t.MaxIdleConnsPerHost = 64
		base = t
	}
	// Token requests go through the base transport alone: they have no
	// recorder and no Authorization header of ours.
	tokenHTTP := &http.Client{Transport: base, Timeout: e.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	creds := newCredentialSource(conn.Credentials, e.log)
	switch mode {
	case AuthAPIToken:
		if conn.DPoP {
			return nil, fmt.Errorf("connection %q: DPoP needs OAuth client credentials, not an API token", conn.Name)
		}
		e.auth = apiTokenAuth{creds: creds}
	case AuthClientSecret, AuthPrivateKey:
		if mode == AuthPrivateKey {
			if _, _, err := parsePrivateKey(conn.Credentials.PrivateKeyPEM.Reveal()); err != nil {
				return nil, fmt.Errorf("connection %q: %w", conn.Name, err)
			}
		}
		tc := &tokenClient{conn: conn, creds: creds, hc: tokenHTTP, clock: e.clock, endpoint: tokenURL(conn.BaseURL), log: e.log}
		if conn.DPoP {
			k, err := newDPoPKey()
			if err != nil {
				return nil, fmt.Errorf("connection %q: %w", conn.Name, err)
			}
			tc.dpop, e.dpop = k, k
		}
		e.auth = &oauthAuth{cache: newTokenCache(conn, tc.fetch, creds, opts.Redis, e.clock, e.log, opts.ProbeInterval, e.timeout)}
	}
	onCall := opts.OnCall
	e.hc = &http.Client{
		Transport: &transport{base: base, auth: e.auth, dpop: e.dpop, clock: e.clock, limiter: opts.Limiter, conn: conn.Name, observed: func(ctx context.Context, c *call) {
			e.log.DebugContext(ctx, "okta call", "method", c.Method, "bucket", c.Bucket, "status", c.Status,
				"request_id", c.RequestID, "duration", c.Duration, "limit", c.Limit, "remaining", c.Remaining)
			if onCall != nil {
				info := CallInfo{Connection: conn.Name, Bucket: c.Bucket, Method: c.Method, Status: c.Status,
					Duration: c.Duration, Limit: c.Limit, Remaining: c.Remaining}
				if c.HasLimit {
					info.Reset = c.resetLocal()
				}
				onCall(info)
			}
		}},
		// Okta does not redirect API calls; following one could send the
		// token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	api, err := newAPIClient(conn.BaseURL, mode, e.hc, e.timeout)
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", conn.Name, err)
	}
	e.api = api
	return e, nil
}

// Close releases idle connections.
func (e *Executor) Close() { e.hc.CloseIdleConnections() }

// Connection is the connection the executor acts on.
func (e *Executor) Connection() *Connection { return e.conn }

// CheckCredentials proves the credentials work, for readiness: with OAuth
// it gets a token (from memory, Redis or Okta); with an API token, which
// has nothing to fetch, it lists one user (1 call, okta.users.read). It
// returns a classified error.
func (e *Executor) CheckCredentials(ctx context.Context) error {
	if a, ok := e.auth.(*oauthAuth); ok {
		_, err := a.cache.get(ctx)
		return err
	}
	ctx = withRecorder(ctx, &recorder{})
	_, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserAPI.ListUsers(ctx).Limit(1).Execute()
		return r, err
	})
	return err
}

// do runs one SDK call under the request timeout and classifies it from
// what the transport recorded. The SDK's own error is used only when the
// request never left (a bug of ours, not Okta's answer).
func (e *Executor) do(ctx context.Context, fn func(ctx context.Context) (*oktasdk.APIResponse, error)) (*call, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	rec := recorderFrom(ctx)
	n := rec.len()
	_, sdkErr := fn(ctx)
	c := rec.last(n)
	if c == nil {
		if sdkErr == nil {
			return nil, errors.New("okta sdk: no request was sent")
		}
		return nil, &PermanentError{Code: tasks.CodeClient, Summary: "building the request failed: " + sdkErr.Error()}
	}
	return c, classify(c)
}

// Execute performs one action and reports what happened. The Result is
// never nil: on error it says what was done before the error (status
// before, request ids, the items of an update already done). The error is
// one of *PermanentError, *TransientError, *RateLimitedError,
// *ConnectionDownError, *UnauthorizedError. Execute never retries: the worker does, on the
// classified error. Secrets Okta returns go only into Result.Sealed.
func (e *Executor) Execute(ctx context.Context, a tasks.Args) (*tasks.Result, error) {
	rec := &recorder{}
	ctx = withRecorder(ctx, rec)
	st := &execState{}
	ctx = withState(ctx, st)
	res := &tasks.Result{Action: a.Action(), Connection: e.conn.Name, StartedAt: e.clock()}
	err := e.execute(ctx, a, res)
	addHint(err, a.Action(), st.user)
	for _, c := range rec.snapshot() {
		if c.authErr != nil || c.denied != nil {
			continue
		}
		res.Okta.Calls++
		if c.RequestID != "" {
			res.Okta.RequestIDs = append(res.Okta.RequestIDs, c.RequestID)
		}
	}
	res.FinishedAt = e.clock()
	if err != nil {
		res.Outcome = tasks.OutcomeFailed
		res.Error = ErrorInfo(err)
		e.log.InfoContext(ctx, "okta action failed", "action", a.Action(), "user_id", res.UserID, "login", res.Login,
			"calls", res.Okta.Calls, "code", res.Error.Code, "summary", res.Error.Summary)
		return res, err
	}
	e.log.InfoContext(ctx, "okta action done", "action", a.Action(), "user_id", res.UserID, "login", res.Login,
		"outcome", res.Outcome, "calls", res.Okta.Calls, "status_before", res.Okta.StatusBefore,
		"status_after", res.Okta.StatusAfter)
	return res, nil
}

func (e *Executor) execute(ctx context.Context, a tasks.Args, res *tasks.Result) error {
	if name := a.Base().ConnectionName(); name != e.conn.Name {
		return &PermanentError{Code: tasks.CodeWrongConnection, Summary: fmt.Sprintf("task is for connection %q, executor for %q", name, e.conn.Name)}
	}
	if s := e.conn.MissingScope(a.Action()); s != "" {
		return &PermanentError{Code: tasks.CodeScopeNotEnabled, Scope: s, Summary: (&tasks.NotAllowedError{Connection: e.conn.Name, Action: a.Action(), Scope: s}).Error()}
	}
	if err := e.checkGranted(ctx, a.Action()); err != nil {
		return err
	}
	if a.ReturnsSecret() {
		// Fail before acting if the secret could not be sealed afterwards.
		if _, err := tasks.Seal(a.Base().ResultKey, tasks.Secret{}); err != nil {
			return &PermanentError{Code: tasks.CodeInvalid, Summary: err.Error()}
		}
	}
	if a.Base().User == "" {
		return &PermanentError{Code: tasks.CodeInvalid, Summary: "no user given"}
	}
	switch a := a.(type) {
	case *tasks.UpdateGroups:
		return e.updateGroups(ctx, a, res)
	case *tasks.UpdateApps:
		return e.updateApps(ctx, a, res)
	default:
		return e.lifecycle(ctx, a, res)
	}
}

// ErrorInfo is the one mapping from an executor error to the code and
// summary a result records. An error of no class is retried like a
// transient one, and so recorded as one.
func ErrorInfo(err error) *tasks.ErrorInfo {
	var (
		p *PermanentError
		u *UnauthorizedError
		r *RateLimitedError
	)
	switch {
	case errors.As(err, &p):
		return &tasks.ErrorInfo{Code: p.Code, Summary: p.Summary, Scope: p.Scope, Hint: orText(p.Hint, hintFor(p.Code, "", nil))}
	case errors.As(err, &u):
		return &tasks.ErrorInfo{Code: tasks.CodeUnauthorized, Summary: u.Error(), Hint: hintFor(u.Code, "", nil)}
	case errors.As(err, new(*ConnectionDownError)):
		return &tasks.ErrorInfo{Code: tasks.CodeConnectionDown, Summary: err.Error(), Hint: hintFor(tasks.CodeConnectionDown, "", nil)}
	case errors.As(err, &r):
		return &tasks.ErrorInfo{Code: tasks.CodeRateLimited, Summary: r.Error(), Hint: hintFor(tasks.CodeRateLimited, "", nil)}
	default:
		return &tasks.ErrorInfo{Code: tasks.CodeTransient, Summary: err.Error(), Hint: hintFor(tasks.CodeTransient, "", nil)}
	}
}
