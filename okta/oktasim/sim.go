package oktasim

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Sim. The zero value is a usable simulator.
type Options struct {
	// Clock drives token expiry, rate-limit windows and the Date header; nil means time.Now.
	Clock func() time.Time
	// Logger gets one line per request; nil discards.
	Logger *slog.Logger
	// RateLimits; the zero value means the published Enterprise defaults.
	RateLimits RateLimits
	// FaultSeed, when not 0, seeds the random draws of injected faults, so
	// that the same requests in the same order meet the same faults.
	FaultSeed uint64
}

// Sim is an in-memory Okta org serving the Management API. Safe for concurrent use.
type Sim struct {
	clock  func() time.Time
	logger *slog.Logger

	mu      sync.Mutex // guards everything below
	baseURL string
	org     *org
	tokens  map[string]*accessToken
	clients map[string]*client
	// adminTargets limits a client's admin role (SeedClient.AdminTargets).
	adminTargets  map[string]*AdminTargets
	apiKeys       map[string]bool
	apiTokenOwner string // login GET /users/me answers for an API token
	jtis          map[string]bool
	dpopNonce     string
	features      map[string]bool // admin-role permissions whose feature is off: 401 E0000015
	scope401      bool            // answer insufficient_scope with 401 instead of 403
	tokenReq      int
	requests      []Request
	emails        []Email
	faults        Faults
	drops         int
	limiter       *limiter
	routeTable    []route
	hooks         *hookStore // event hooks and the System Log (events.go, eventhooks.go)
	dice          *dice
	pushes        map[string]*pushTxn // push transactions by id (push.go)

	inflight atomic.Int64
}

// New returns an empty org (only the built-in "Everyone" group). Call Load to seed it.
func New(opts Options) *Sim {
	s := &Sim{
		clock:        opts.Clock,
		logger:       opts.Logger,
		tokens:       map[string]*accessToken{},
		clients:      map[string]*client{},
		adminTargets: map[string]*AdminTargets{},
		apiKeys:      map[string]bool{},
		jtis:         map[string]bool{},
		dice:         newDice(opts.FaultSeed),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.org = newOrg(s.clock())
	s.limiter = newLimiter(opts.RateLimits)
	s.routeTable = s.routes()
	return s
}

// Handler serves the Management API and /oauth2/v1/token, and the
// simulator's own controls under /__sim/ (inspect.go).
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Start serves the simulator on a loopback httptest.Server and makes its URL the base URL.
// The caller closes the server.
func (s *Sim) Start() *httptest.Server {
	srv := httptest.NewServer(s.Handler())
	s.SetBaseURL(srv.URL)
	return srv
}

// URL is the base URL used in _links, Link headers and as the token audience.
func (s *Sim) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// SetBaseURL sets the URL the org is reached at (scheme://host[:port], no trailing slash).
func (s *Sim) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(u) > 0 && u[len(u)-1] == '/' {
		u = u[:len(u)-1]
	}
	s.baseURL = u
}

func (s *Sim) now() time.Time { return s.clock().UTC() }
