package okta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oktaq/oktaq/okta/ratelimit"
)

// call is what the transport saw of one HTTP exchange with Okta. The SDK
// loses the response on 429 and transport errors (nil *http.Response) and
// drains the body; the executor classifies from this record instead.
type call struct {
	Method, Path, Bucket string
	Status               int
	Limit, Remaining     int
	HasLimit             bool
	Reset                time.Time // X-Rate-Limit-Reset, Okta's clock
	Date                 time.Time // Date header, Okta's clock
	Local                time.Time // local clock when the answer arrived
	RequestID            string
	Duration             time.Duration

	wwwAuthenticate string
	links           []string // every Link header: Okta sends rel="self" and rel="next" apart
	body            []byte
	err             error // transport error: no answer
	authErr         error // no token: classified already
	denied          error // the limiter refused: Okta was not called
}

// resetLocal is when the bucket resets on the local clock: the wait Okta
// gives (Reset - Date) added to the local time of the answer.
func (c *call) resetLocal() time.Time {
	if c.Reset.IsZero() {
		return c.Local.Add(time.Minute)
	}
	if c.Date.IsZero() {
		return c.Reset
	}
	return c.Local.Add(c.Reset.Sub(c.Date))
}

// recorder collects the calls of one Execute; it rides in the request
// context so the transport can find it.
type recorder struct {
	mu    sync.Mutex
	calls []*call
	// continued marks the calls of one part of an operation whose first
	// call another recorder holds (the user view's parallel reads): the
	// limiter treats them as calls of an operation under way.
	continued bool
}

type recorderKey struct{}

func withRecorder(ctx context.Context, r *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderFrom(ctx context.Context) *recorder {
	r, _ := ctx.Value(recorderKey{}).(*recorder)
	return r
}

func (r *recorder) add(c *call) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// continues reports whether a call now continues an operation under way.
func (r *recorder) continues() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.continued || len(r.calls) > 0
}

// last returns the last call made after the first n, or nil.
func (r *recorder) last(n int) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) <= n {
		return nil
	}
	return r.calls[len(r.calls)-1]
}

func (r *recorder) snapshot() []*call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*call(nil), r.calls...)
}

// noRetry hides the cause of a transport failure from the SDK: it retries
// (and replays POSTs) on anything that unwraps to io.EOF. The cause stays
// in the call record.
type noRetry struct{ msg string }

func (e *noRetry) Error() string { return e.msg }

const maxBody = 4 << 20

// transport authenticates every request and records the exchange.
type transport struct {
	base     http.RoundTripper
	auth     authorizer
	dpop     *dpopKey // set: each request carries a DPoP proof
	clock    func() time.Time
	observed func(ctx context.Context, c *call)
	// limiter grants each call first (limits.go).
	limiter CallLimiter
	conn    string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	rec := recorderFrom(ctx)
	header, err := t.auth.authorization(ctx)
	if err != nil {
		c := &call{Method: req.Method, Path: req.URL.Path, Bucket: ratelimit.BucketToken, authErr: err, Local: t.clock()}
		rec.add(c)
		return nil, &noRetry{msg: "no access token"}
	}
	resp, sent, err := t.send(req, header, rec)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !t.auth.refreshable() || !credentials401(sent) {
		return resp, err
	}
	// A 401 with an OAuth token: it may have expired or been revoked early.
	// Drop it, fetch one more, and try once more; a 401 means nothing was done,
	// so the replay is safe.
	t.auth.invalidate(ctx, header)
	header, err = t.auth.authorization(ctx)
	if err != nil {
		rec.add(&call{Method: req.Method, Path: req.URL.Path, Bucket: ratelimit.BucketToken, authErr: err, Local: t.clock()})
		return nil, &noRetry{msg: "no access token"}
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil
	}
	retry := req.Clone(ctx)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	resp, _, err = t.send(retry, header, rec)
	return resp, err
}

// send makes one exchange; it returns the call record with the answer.
func (t *transport) send(req *http.Request, header string, rec *recorder) (*http.Response, *call, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", header)
	r.Header.Del("Cookie")
	if value, ok := strings.CutPrefix(header, "DPoP "); ok && t.dpop != nil {
		proof, err := t.dpop.proof(req.Method, htu(req), "", value, t.clock())
		if err != nil {
			return nil, nil, &noRetry{msg: "dpop proof: " + err.Error()}
		}
		r.Header.Set("DPoP", proof)
	}
	if d := dryFrom(req.Context()); d != nil {
		// A dry run (playbook_plan.go): writes are answered here, unsent.
		if resp := dryAnswer(d, req, rec); resp != nil {
			return resp, nil, nil
		}
	}
	c := &call{Method: req.Method, Path: req.URL.Path, Bucket: ratelimit.BucketFor(req.Method, req.URL.Path)}
	var answered time.Time
	done, err := t.limiter.Acquire(req.Context(), ratelimit.Call{Connection: t.conn, Bucket: c.Bucket, Method: c.Method,
		Priority: ratelimit.PriorityFrom(req.Context()), Continuation: rec.continues()})
	if err != nil {
		c.denied, c.Local = refusal(err), t.clock()
		rec.add(c)
		return nil, nil, &noRetry{msg: fmt.Sprintf("%s %s: not sent: %v", req.Method, req.URL.Path, err)}
	}
	// Runs last, when c holds the whole answer.
	defer func() { done(c.observation(time.Since(answered))) }()
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	answered = time.Now()
	c.Duration = answered.Sub(start)
	c.Local = t.clock()
	defer func() {
		rec.add(c)
		if t.observed != nil {
			t.observed(req.Context(), c)
		}
	}()
	if err != nil {
		c.err = err
		return nil, nil, &noRetry{msg: fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, sanitize(err))}
	}
	body, err := readBody(resp)
	resp.Body.Close()
	if err != nil {
		c.err = err
		return nil, nil, &noRetry{msg: fmt.Sprintf("%s %s: reading answer: %v", req.Method, req.URL.Path, sanitize(err))}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.body = body
	c.Status = resp.StatusCode
	h := resp.Header
	c.RequestID = h.Get("X-Okta-Request-Id")
	c.wwwAuthenticate = h.Get("WWW-Authenticate")
	c.links = h.Values("Link")
	if v, err := strconv.Atoi(h.Get("X-Rate-Limit-Limit")); err == nil {
		c.Limit, c.HasLimit = v, true
	}
	if v, err := strconv.Atoi(h.Get("X-Rate-Limit-Remaining")); err == nil {
		c.Remaining = v
	}
	if v, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64); err == nil {
		c.Reset = time.Unix(v, 0)
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		c.Date = d
	}
	return resp, c, nil
}

// readBody reads an answer's body, at most maxBody bytes: into one buffer
// of its Content-Length when the answer has one (Okta's do), which saves
// io.ReadAll's growing copies (a user's record took four).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxBody {
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxBody))
}

// observation is what the limiter learns from the call.
func (c *call) observation(age time.Duration) ratelimit.Observation {
	return ratelimit.Observation{Status: c.Status, HasLimit: c.HasLimit, Limit: c.Limit, Remaining: c.Remaining,
		Reset: c.Reset, Date: c.Date, RTT: c.Duration, Age: age}
}

// sanitize keeps the kind of a transport error but not a URL that could
// carry a query.
func sanitize(err error) error {
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		return errors.New("timeout")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("connection closed before the answer")
	}
	return errors.New("connection failed")
}
