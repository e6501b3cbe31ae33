package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// The worker processes of bench-ratelimit are this binary again, started
// with benchWorkerEnv holding a benchWorkerSpec: the bench measures
// separate OS processes sharing one Redis, as in production.
const benchWorkerEnv = "OKTAQ_BENCH_RATELIMIT_WORKER"

// Modes: oktaq's shared limiter, and the two ways it is compared to.
const (
	modeOktaq = "oktaq"
	// modeOktaqNoReserve: the same with OKTAQ_RATE_RESERVE=0, to show
	// the limiter's use of the whole share.
	modeOktaqNoReserve = "oktaq-noreserve"
	// modeSDK: okta-sdk-golang's behaviour with retries on: a 429 sleeps
	// until the reset inside the handler (Reset - Date + 1 s, at most
	// 30 s, 2 retries), with no shared state and no cap in flight.
	modeSDK = "sdk"
	// modeAsynq: asynq's documented pattern: a golang.org/x/time/rate
	// limiter in each process, sized at share/workers (burst: 3 s of it, as
	// in asynq's example), and a rate-limit
	// error (IsFailure false) retried after a random wait.
	modeAsynq = "asynq"
)

type benchWorkerSpec struct {
	Mode        string        `json:"mode"`
	RedisURL    string        `json:"redis_url"`
	OktaURL     string        `json:"okta_url"`
	APIToken    string        `json:"api_token"`
	Connection  string        `json:"connection"`
	SigningKeys string        `json:"signing_keys"`
	Queues      []string      `json:"queues"` // critical, default, low
	Concurrency int           `json:"concurrency"`
	Poll        time.Duration `json:"poll"`
	Window      time.Duration `json:"window"`
	// Share is the calls per window the connection may make (Okta's
	// per-principal limit); Workers how many processes split it.
	Share   int     `json:"share"`
	Workers int     `json:"workers"`
	Reserve float64 `json:"reserve"`
	// OrgConcurrency is the simulated org's limit of calls in flight.
	OrgConcurrency int `json:"org_concurrency"`
}

// limiterConfig is the oktaq modes' limiter, set up as an operator
// would for this org: the in-flight cap (OKTAQ_OKTA_MAX_IN_FLIGHT) under
// the org's concurrency limit, as the README asks. The product's default
// (twice the worker's concurrency, 20) suits Okta's usual 75; over the
// bench's 10 it met concurrency 429s and blocked the connection a
// second each time.
func (spec benchWorkerSpec) limiterConfig() ratelimit.Config {
	lim := ratelimit.DefaultConfig()
	lim.Reserve = spec.Reserve
	lim.MaxInFlight = min(ratelimit.MaxInFlightFor(spec.Workers*spec.Concurrency), orgInFlightCap(spec.OrgConcurrency))
	return lim
}

// orgInFlightCap keeps a fifth of the org's calls in flight (at least
// one) for its other clients: 8 of 10.
func orgInFlightCap(orgConcurrency int) int {
	return max(1, orgConcurrency-max(1, orgConcurrency/5))
}

// runBenchWorker is one worker process of the bench. It says "ready" on
// stdout once it serves, and runs until ctx ends (SIGTERM).
func runBenchWorker(ctx context.Context, env *cmdEnv, raw string) error {
	var spec benchWorkerSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("%s: %w", benchWorkerEnv, err)
	}
	redisOpt, err := asynq.ParseRedisURI(spec.RedisURL)
	if err != nil {
		return err
	}
	rdb := redisOpt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	keyring, err := tasks.ParseKeyring(spec.SigningKeys)
	if err != nil {
		return err
	}
	policy, _ := tasks.ParseRoles("*=it-admin")
	conn := &okta.Connection{Policy: tasks.Policy{Name: spec.Connection, Roles: policy, Scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage, tasks.ScopeGroupsManage}}, BaseURL: spec.OktaURL,
		Credentials: okta.Credentials{APIToken: okta.Secret(spec.APIToken)}}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	opts := okta.ExecutorOptions{Logger: log, RequestTimeout: 30 * time.Second}
	switch spec.Mode {
	case modeOktaq:
		lim := spec.limiterConfig()
		lim.Logger = log
		l, err := ratelimit.New(rdb, lim)
		if err != nil {
			return err
		}
		opts.Redis, opts.Limiter = rdb, l
	case modeSDK:
		opts.Transport = &sdkRetries{base: http.DefaultTransport, retries: 2, maxBackoff: 30 * time.Second}
		opts.Limiter = unlimited{}
	case modeAsynq:
		perWorker := float64(spec.Share) / float64(spec.Workers)
		// Burst: 3 s of the rate, as asynq's example (rate 10/s, burst 30).
		per := perWorker / spec.Window.Seconds()
		opts.Limiter = &localRate{lim: rate.NewLimiter(rate.Limit(per), max(1, int(math.Round(3*per)))), retryIn: spec.Window}
	default:
		return fmt.Errorf("unknown mode %q", spec.Mode)
	}
	exec, err := okta.NewExecutor(conn, opts)
	if err != nil {
		return err
	}
	retry := worker.DefaultRetryPolicy()
	// Every mode: a quarter second at a 10 s window. The limiter spreads
	// its own wake-ups; the SDK mode seldom reschedules, and the asynq
	// mode's random RetryIn dwarfs it.
	retry.Jitter = min(retry.Jitter, spec.Window/40)
	w, err := worker.New(worker.Options{
		Redis: redisOpt, Keyring: keyring,
		Producers:   tasks.Producers{Roles: map[string][]string{"bench": {"it-admin"}}},
		Connections: map[string]*worker.Connection{conn.Name: {Conn: conn, Exec: exec}},
		Concurrency: spec.Concurrency, StrictPriority: true, PollInterval: spec.Poll,
		Queues:          map[string]int{spec.Queues[0]: 6, spec.Queues[1]: 3, spec.Queues[2]: 1},
		ShutdownTimeout: 2 * time.Second, Retry: retry, Logger: log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "ready")
	return w.Run(ctx)
}

// sdkRetries is okta-sdk-golang v5.0.2's doWithRetries with MaxRetries
// and MaxBackoff set (okta-api-notes.md section 6): on a 429 it sleeps
// Reset - Date + 1 s in the handler's goroutine and sends again.
type sdkRetries struct {
	base       http.RoundTripper
	retries    int
	maxBackoff time.Duration
}

func (s *sdkRetries) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := s.base.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt == s.retries {
			return resp, err
		}
		reset, _ := strconv.ParseInt(resp.Header.Get("X-Rate-Limit-Reset"), 10, 64)
		date, _ := http.ParseTime(resp.Header.Get("Date"))
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		wait := min(time.Unix(reset, 0).Sub(date)+time.Second, s.maxBackoff)
		t := time.NewTimer(max(wait, 0))
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// localRate is asynq's documented rate-limiting pattern: a token bucket
// in this process only, asked once per task as the handler starts (here:
// at the action's first call; every action of the bench makes one call
// per limited bucket); when it is empty the task is retried after a random
// wait of up to retryIn, not counted as a failure.
type localRate struct {
	lim     *rate.Limiter
	retryIn time.Duration
}

func (l *localRate) Acquire(_ context.Context, c ratelimit.Call) (func(ratelimit.Observation), error) {
	if !c.Continuation && !l.lim.Allow() {
		return nil, &ratelimit.WaitError{Until: time.Now().Add(rand.N(l.retryIn)), Bucket: c.Bucket}
	}
	return func(ratelimit.Observation) {}, nil
}

// Peek: asynq's pattern has no gate before the handler.
func (l *localRate) Peek(context.Context, string, []string) (time.Time, string, error) {
	return time.Time{}, "", nil
}

// unlimited lets every call go: the SDK's way knows no budget and only
// reacts to 429s (sdkRetries).
type unlimited struct{}

func (unlimited) Acquire(context.Context, ratelimit.Call) (func(ratelimit.Observation), error) {
	return func(ratelimit.Observation) {}, nil
}

func (unlimited) Peek(context.Context, string, []string) (time.Time, string, error) {
	return time.Time{}, "", nil
}
