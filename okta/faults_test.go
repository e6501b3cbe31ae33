package okta_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// The simulator applies reset_password and drops the connection: the
// executor re-reads the user, sees RECOVERY, reports success and does not
// call again (no second email).
func TestLostAnswerOnResetPassword(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	sim.SetFaults(oktasim.Faults{DropAfter: 1, DropAfterMatch: "reset_password", MaxDrops: 1})
	res, err := e.Execute(context.Background(), &tasks.ResetPassword{Request: req(e, login("ACTIVE"))})
	if err != nil || res.Outcome != tasks.OutcomeSucceeded || res.Okta.StatusAfter != "RECOVERY" {
		t.Fatalf("%v %+v", err, res)
	}
	if sim.Drops() != 1 {
		t.Fatalf("drops %d", sim.Drops())
	}
	if n := len(sim.Emails()); n != 1 {
		t.Errorf("emails sent: %d, want 1", n)
	}
	if res.Okta.Calls != 3 { // GET, POST (lost), GET
		t.Errorf("calls %d", res.Okta.Calls)
	}
}

// With send_email=false the lost answer held the link: it is asked for once
// more (no email) and sealed.
func TestLostAnswerOnResetPasswordLink(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	pub, priv := resultKey(t)
	sim.SetFaults(oktasim.Faults{DropAfter: 1, DropAfterMatch: "reset_password", MaxDrops: 1})
	r := req(e, login("ACTIVE"))
	r.ResultKey = pub
	res, err := e.Execute(context.Background(), &tasks.ResetPassword{Request: r,
		Options: tasks.ResetPasswordOptions{SendEmail: tasks.Bool(false)}})
	if err != nil || res.Sealed == nil {
		t.Fatalf("%v %+v", err, res)
	}
	s, err := tasks.Open(res.Sealed, pub, priv)
	if err != nil || s.Kind != "reset_password_url" || !strings.Contains(s.Value, "/reset_password/") {
		t.Fatalf("%v %+v", err, s)
	}
	if len(sim.Emails()) != 0 {
		t.Errorf("emails sent: %v", sim.Emails())
	}
}

func TestServerErrorIsTransient(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 503, Match: "/lifecycle/"})
	res, err := suspend(t, e, "ACTIVE")
	var tr *okta.TransientError
	if !errors.As(err, &tr) || tr.Status != 503 {
		t.Fatalf("got %T %v", err, err)
	}
	if res.Okta.StatusBefore != "ACTIVE" || res.Okta.Calls != 2 {
		t.Errorf("result %+v", res.Okta)
	}
}

func TestConnectionFailureIsTransient(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	sim.SetFaults(oktasim.Faults{DropBefore: 1, Match: "/api/"})
	_, err := suspend(t, e, "ACTIVE")
	var tr *okta.TransientError
	if !errors.As(err, &tr) {
		t.Fatalf("got %T %v", err, err)
	}
	if u, _ := sim.User(login("ACTIVE")); u.Status != "ACTIVE" {
		t.Errorf("status %s", u.Status)
	}
}

// A 429 is RateLimited until now + (Reset - Date), and the limiter learns
// it so that Blocked tells the gate before the next call.
func TestRateLimited(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	var mu sync.Mutex
	var infos []okta.CallInfo
	e := newExecutor(t, sim, execOpts{onCall: func(c okta.CallInfo) { mu.Lock(); infos = append(infos, c); mu.Unlock() }})
	a := &tasks.Suspend{Request: req(e, login("ACTIVE"))}
	if until, _, err := e.Blocked(context.Background(), a); err != nil || !until.IsZero() {
		t.Fatalf("blocked before any call: %v %v", until, err)
	}
	drainFrom := time.Now()
	if !sim.Drain(oktasim.ActionBucket) {
		t.Fatal("no such bucket")
	}
	drainTo := time.Now()
	_, err := e.Execute(context.Background(), a)
	var rl *okta.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("got %T %v", err, err)
	}
	if rl.Bucket != ratelimit.BucketUsers || rl.Concurrency {
		t.Errorf("bucket %s concurrency %v", rl.Bucket, rl.Concurrency)
	}
	// The sim's window is 60 s and started at Drain: reset a minute after
	// it (headers round to the second, the executor adds up to a second),
	// however long the call took.
	if from, to := drainFrom.Add(59*time.Second), drainTo.Add(62*time.Second); rl.Until.Before(from) || rl.Until.After(to) {
		t.Errorf("until %v, want a minute after the drain: in [%v, %v]", rl.Until, from, to)
	}
	until, bucket, err := e.Blocked(context.Background(), a)
	// The limiter takes Okta's Reset, rounded up to the second, as the
	// latest end, and adds up to Jitter (500 ms) to spread wake-ups.
	if d := until.Sub(rl.Until); err != nil || bucket != ratelimit.BucketUsers || d < -time.Second || d > 2*time.Second {
		t.Errorf("Blocked: %v %s %v; want about %v", until, bucket, err, rl.Until)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(infos) != 2 || infos[1].Status != 429 || infos[0].Bucket != ratelimit.BucketUsersGetOne {
		t.Errorf("calls seen %+v", infos)
	}
}

// Nothing secret reaches a log line, at debug level: not the client
// secret, not an access token, not a temporary password or link.
func TestNoSecretInLogs(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var sentMu sync.Mutex
	var sent []string // access tokens actually sent
	spy := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			sentMu.Lock()
			sent = append(sent, strings.TrimPrefix(h, "Bearer "))
			sentMu.Unlock()
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	e := newExecutor(t, sim, execOpts{logger: logger, transport: spy})
	pub, priv := resultKey(t)
	ctx := context.Background()
	var secrets []string
	for _, a := range []tasks.Args{
		&tasks.ExpirePassword{Request: req(e, login("ACTIVE")), Options: tasks.ExpirePasswordOptions{TempPassword: true}},
		&tasks.ResetPassword{Request: req(e, login("LOCKED_OUT")), Options: tasks.ResetPasswordOptions{SendEmail: tasks.Bool(false)}},
		&tasks.Activate{Request: req(e, login("STAGED")), Options: tasks.SendEmailOption{SendEmail: tasks.Bool(false)}},
		&tasks.Suspend{Request: req(e, login("SUSPENDED"))},
	} {
		a.Base().ResultKey = pub
		res, err := e.Execute(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", a.Action(), err)
		}
		if a.ReturnsSecret() {
			s, err := tasks.Open(res.Sealed, pub, priv)
			if err != nil || s.Value == "" {
				t.Fatalf("%s: sealed %v %+v", a.Action(), err, s)
			}
			secrets = append(secrets, s.Value)
			if s.Token != "" {
				secrets = append(secrets, s.Token)
			}
		}
	}
	// Log with a bad secret too, so the error path is covered.
	bad := newExecutor(t, sim, execOpts{logger: logger, creds: &okta.Credentials{ClientID: testClientID, ClientSecret: "bad-" + testSecret}})
	_, _ = suspend(t, bad, "ACTIVE")
	logs := buf.String()
	if len(sent) == 0 {
		t.Fatal("no token seen")
	}
	if !strings.Contains(logs, "okta call") {
		t.Fatalf("no debug lines logged:\n%s", logs)
	}
	for _, s := range append(append(secrets, sent...), testSecret) {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("log contains a secret %q", s)
		}
	}
	for _, r := range []string{"Bearer ", "SSWS ", "eyJraWQiOi"} {
		if strings.Contains(logs, r) {
			t.Errorf("log contains %q", r)
		}
	}
}
