package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// The demo's fixed settings: they are printed, and meant to be.
const (
	devSigningKeys = "dev=oktaq-dev-signing-key-demo-only"
	devToken       = "oktaq-dev-token"
	devProducer    = "demo-helpdesk"
	devRoles       = "*=it-admin;user.reset_password=helpdesk;user.unlock=helpdesk;user.clear_sessions=helpdesk;user.reset_mfa=helpdesk"
	// devProducerRoles: the demo's producer and the CLI may assert both
	// demo roles.
	devProducerRoles = devProducer + "=it-admin|helpdesk;" + cliProducer + "=it-admin|helpdesk"
)

func init() {
	register("dev", "run everything in one process with an embedded Redis and a demo Okta org (make run)", runDev)
}

type devFlags struct {
	apiAddr, adminAddr, simAddr, redisAddr string
	quiet                                  bool
}

func runDev(ctx context.Context, env *cmdEnv, args []string) error {
	var f devFlags
	fs := newFlags(env, "dev", "[flags]")
	fs.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:8080", "HTTP API listen address")
	fs.StringVar(&f.adminAddr, "admin-addr", "127.0.0.1:9090", "metrics, health and dashboard listen address")
	fs.StringVar(&f.simAddr, "sim-addr", "127.0.0.1:8180", "Okta simulator listen address")
	fs.StringVar(&f.redisAddr, "redis-addr", "127.0.0.1:6390", "embedded Redis listen address (unless OKTAQ_REDIS_URL is set)")
	fs.BoolVar(&f.quiet, "quiet", false, "log warnings only")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	redis.SetLogger(redisLogger{log})
	for _, warning := range config.UnknownVars(os.Environ()) {
		log.Warn(warning)
	}
	d, err := startDev(ctx, f, log)
	if err != nil {
		return err
	}
	defer d.close()
	d.printBanner(env.stdout)
	<-ctx.Done()
	log.Info("stopping")
	return d.wait()
}

// dev is the running demo: every part of oktaq in one process.
type dev struct {
	redisURL string
	redis    asynq.RedisConnOpt
	mini     *miniredis.Miniredis
	rdb      redis.UniversalClient
	simURL   string
	// adminPass is the dashboard's password, new for every run: the
	// dashboard can write, so even the demo's is not a fixed string.
	adminPass string
	f         devFlags
	errc      chan error
	running   int
	closers   []func()
}

func startDev(ctx context.Context, f devFlags, log *slog.Logger) (*dev, error) {
	d := &dev{f: f, errc: make(chan error, 4), adminPass: rand.Text()}
	// Every port first, so that a busy one stops the demo before anything
	// runs, with the flag to change.
	lns := map[string]net.Listener{}
	for _, l := range []struct{ flag, addr string }{{"sim-addr", f.simAddr}, {"api-addr", f.apiAddr}, {"admin-addr", f.adminAddr}} {
		ln, err := listenFlag(l.flag, l.addr)
		if err != nil {
			d.close()
			return nil, err
		}
		lns[l.flag] = ln
		d.closers = append(d.closers, func() { ln.Close() })
	}
	if err := d.startRedis(log); err != nil {
		d.close()
		return nil, err
	}
	sim := oktasim.New(oktasim.Options{Logger: log.With("component", "okta-sim")})
	if err := sim.Load(devSeed()); err != nil { // dev_loop.go
		d.close()
		return nil, err
	}
	simLn := lns["sim-addr"]
	d.simURL = "http://" + simLn.Addr().String()
	sim.SetBaseURL(d.simURL)
	d.serve(ctx, func(ctx context.Context) error {
		// The draining worker may still be calling the simulator when
		// Ctrl-C stops both: past the grace period the demo's Okta is
		// cut off, which is no failure of the demo.
		err := enqueue.ServeListener(ctx, simLn, sim.Handler(), 5*time.Second)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		return err
	})

	policy, err := tasks.ParseRoles(devRoles)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("demo roles: %w", err)
	}
	conn := &okta.Connection{Policy: tasks.Policy{Name: tasks.DefaultConnection, Scopes: oktasim.ManageScopes, Roles: policy}, BaseURL: d.simURL,
		Credentials: okta.Credentials{ClientID: oktasim.DemoClientID, ClientSecret: oktasim.DemoClientSecret}}
	keyring, _ := tasks.ParseKeyring(devSigningKeys)
	producerRoles, _ := tasks.ParseProducerRules(devProducerRoles)
	producers := tasks.Producers{Roles: producerRoles}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), worker.QueueCollector(d.redis))
	metrics := worker.NewMetrics(reg)
	lopts := ratelimit.DefaultConfig()
	lopts.Logger, lopts.OnEvent = log, metrics.OnLimit
	limiter, err := ratelimit.New(d.rdb, lopts)
	if err != nil {
		d.close()
		return nil, err
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: d.rdb, Logger: log, OnCall: metrics.OnCall, Limiter: limiter})
	if err != nil {
		d.close()
		return nil, err
	}
	w, err := worker.New(worker.Options{Redis: d.redis, Keyring: keyring, Producers: producers, Metrics: metrics, Logger: log,
		Connections: map[string]*worker.Connection{conn.Name: {Conn: conn, Exec: exec}}, StrictPriority: true,
		Confirm:      &worker.ConfirmOptions{},
		PollInterval: 200 * time.Millisecond})
	if err != nil {
		d.close()
		return nil, err
	}
	d.serve(ctx, w.Run)

	playbooks, err := config.LoadPlaybooks(os.Getenv(config.Prefix + "_PLAYBOOKS_FILE"))
	if err != nil {
		d.close()
		return nil, fmt.Errorf("OKTAQ_PLAYBOOKS_FILE: %w", err)
	}
	// The API reads user views through the worker's executor: same
	// limiter, same token.
	users := okta.NewUserReader(map[string]*okta.Executor{conn.Name: exec}, okta.UserReaderOptions{Redis: d.rdb, Logger: log})
	client := enqueue.NewFromRedisClient(d.rdb, enqueue.Options{Keyring: keyring, Producer: devProducer, Producers: producers,
		Connections: map[string]*tasks.Policy{conn.Name: &conn.Policy}, Users: users, Playbooks: playbooks})
	d.closers = append(d.closers, func() { client.Close() })
	// The demo's executor answers dry runs too: the org is the simulator.
	opts := enqueue.APIOptions{Registerer: reg, Logger: log, EventHookSecret: devHookSecret,
		Planners: map[string]enqueue.Planner{conn.Name: exec}}
	api := enqueue.NewAPI(client, []enqueue.Producer{enqueue.NewProducer(devProducer, devToken)}, opts)
	admin := adminMux(reg, w.Ready, w.ReadyNotes)
	admin.Handle(dashboardPath+"/", dashboard(d.redis, "admin", d.adminPass, false, ""))
	for flag, h := range map[string]http.Handler{"api-addr": api, "admin-addr": admin} {
		ln := lns[flag]
		d.serve(ctx, func(ctx context.Context) error { return enqueue.ServeListener(ctx, ln, h, 5*time.Second) })
	}
	d.startLoop(ctx, sim, lns["api-addr"].Addr().String(), limiter, log)
	return d, nil
}

// startRedis uses OKTAQ_REDIS_URL when it is set and answers, and an
// embedded miniredis otherwise. The banner has the reader export the
// embedded store's URL; once that demo has stopped, nothing answers there,
// so a later `make run` in the same shell starts the embedded store at
// that address again rather than fail. Any other URL that does not answer
// is an error: that Redis is someone's and should be running.
func (d *dev) startRedis(log *slog.Logger) error {
	if u := os.Getenv("OKTAQ_REDIS_URL"); u != "" {
		opt, err := config.ParseRedisURL(u, os.Getenv("OKTAQ_REDIS_PASSWORD"))
		if err != nil {
			return fmt.Errorf("OKTAQ_REDIS_URL: %w", err)
		}
		rdb := opt.MakeRedisClient().(redis.UniversalClient)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = rdb.Ping(ctx).Err()
		if err == nil {
			d.redis, d.rdb, d.redisURL = opt, rdb, u
			d.closers = append(d.closers, func() { rdb.Close() })
			return nil
		}
		rdb.Close()
		if !d.isOwnEmbeddedURL(opt) {
			return fmt.Errorf("OKTAQ_REDIS_URL: Redis does not answer: %w; start it, or run `unset OKTAQ_REDIS_URL` to use the embedded store", err)
		}
		log.Warn("OKTAQ_REDIS_URL is this demo's own embedded store, from an earlier run's banner, and nothing answers there: starting the embedded store again (empty)",
			"addr", d.f.redisAddr)
	}
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.StartAddr(d.f.redisAddr); err != nil {
		return fmt.Errorf("--redis-addr: embedded Redis cannot listen on %s: %w; choose another with --redis-addr HOST:PORT", d.f.redisAddr, err)
	}
	d.mini = m
	d.redis = asynq.RedisClientOpt{Addr: m.Addr()}
	d.rdb = redis.NewClient(&redis.Options{Addr: m.Addr()})
	d.redisURL = "redis://" + m.Addr() + "/0"
	d.closers = append(d.closers, func() { d.rdb.Close(); m.Close() })
	return nil
}

// isOwnEmbeddedURL reports whether opt is the URL the banner prints for
// the embedded store: its address, database 0, no password.
func (d *dev) isOwnEmbeddedURL(opt asynq.RedisConnOpt) bool {
	o, ok := opt.(asynq.RedisClientOpt)
	return ok && o.Addr == d.f.redisAddr && o.DB == 0 && o.Password == "" && o.TLSConfig == nil
}

// listenFlag listens on addr, and names the flag that sets it when it
// cannot: a busy port is the usual first-run trouble.
func listenFlag(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s: cannot listen on %s: %w; choose another address with --%s HOST:PORT (make run ARGS=\"--%s HOST:PORT\")",
			flag, addr, err, flag, flag)
	}
	return ln, nil
}

func (d *dev) serve(ctx context.Context, run func(context.Context) error) {
	d.running++
	go func() { d.errc <- run(ctx) }()
}

// wait collects every part's exit.
func (d *dev) wait() error {
	var errs []error
	for range d.running {
		if err := <-d.errc; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	d.running = 0
	return errors.Join(errs...)
}

func (d *dev) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// cliEnv is the environment `oktaq enqueue` and `oktaq status` need to
// reach this demo.
func (d *dev) cliEnv() string {
	return fmt.Sprintf("OKTAQ_REDIS_URL=%s OKTAQ_SIGNING_KEYS=%s OKTAQ_OKTA_SCOPES=%s OKTAQ_ROLES='%s' OKTAQ_PRODUCER_ROLES='%s'",
		d.redisURL, devSigningKeys, strings.Join(oktasim.ManageScopes, ","), devRoles, devProducerRoles)
}

func (d *dev) printBanner(w io.Writer) {
	bin := "go run ./cmd/oktaq"
	if exe, err := os.Executable(); err == nil && !strings.Contains(exe, "go-build") {
		bin = exe
	}
	api := "http://" + d.f.apiAddr
	fmt.Fprintf(w, `
oktaq dev is running (demo only: fixed keys, embedded store, simulated Okta)

  API         %[1]s   (producer token: %[2]s)
  OpenAPI     %[1]s/openapi.yaml
  dashboard   http://%[3]s%[4]s/   (user admin, password %[5]s)
  metrics     http://%[3]s/metrics   health: /healthz /readyz
  Okta (sim)  %[6]s
  Redis       %[7]s

Try:
  curl -s '%[1]s/v1/users/bob@example.com?role=helpdesk' -H 'Authorization: Bearer %[2]s'
  curl -s -X POST %[1]s/v1/actions -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
    -d '{"action":"user.suspend","user":"bob@example.com","requester":{"id":"agent-42","role":"it-admin"},"ticket":{"system":"demo","id":"REQ-1"}}'
  export %[8]s
  %[9]s enqueue user.reset_password --user carol+ops@example.com --role helpdesk --ticket REQ-2 --wait
  %[9]s status ID   (an id printed above)

Ctrl-C stops everything.
`, api, devToken, d.f.adminAddr, dashboardPath, d.adminPass, d.simURL, d.redisURL, d.cliEnv(), bin)
}
