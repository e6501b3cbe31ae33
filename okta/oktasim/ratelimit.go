package oktasim

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// RateLimits configure Okta's rate limiting. The zero value means the defaults.
type RateLimits struct {
	Window         time.Duration `json:"window,omitempty"`          // default 60s; JSON: "60s" or nanoseconds
	PrincipalShare float64       `json:"principal_share,omitempty"` // default 0.5
	Concurrency    int           `json:"concurrency,omitempty"`     // default 75
	Disabled       bool          `json:"disabled,omitempty"`        // headers still sent, never 429 for buckets
	// Buckets override defaults by Name (Limit, and Pattern/Method when set) or add new ones.
	// Buckets with the same Name share one counter.
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Bucket is a set of endpoints sharing one quota per window for the whole org.
type Bucket struct {
	Name    string `json:"name"`
	Method  string `json:"method,omitempty"` // "" = any method
	Pattern string `json:"pattern"`          // "/api/v1/users/{id}" exact; trailing "*" = prefix
	Limit   int    `json:"limit"`
}

// UnmarshalJSON accepts window as a Go duration string ("60s") or nanoseconds.
func (rl *RateLimits) UnmarshalJSON(b []byte) error {
	type plain RateLimits
	var aux struct {
		plain
		Window json.RawMessage `json:"window,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*rl = RateLimits(aux.plain)
	if len(aux.Window) == 0 {
		return nil
	}
	var str string
	if err := json.Unmarshal(aux.Window, &str); err == nil {
		d, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("rate_limits.window: %w", err)
		}
		rl.Window = d
		return nil
	}
	return json.Unmarshal(aux.Window, &rl.Window)
}

// ActionBucket is the bucket for lifecycle, sessions, factors and group membership calls,
// which Okta does not publish; override its Limit to test that a client learns it from headers.
const ActionBucket = "user-actions"

// DefaultBuckets are the last published per-minute limits, Enterprise column.
func DefaultBuckets() []Bucket {
	return []Bucket{
		{Name: "users", Pattern: "/api/v1/users", Limit: 600},
		{Name: "user-get", Method: "GET", Pattern: "/api/v1/users/{id}", Limit: 1000},
		{Name: "user-update", Pattern: "/api/v1/users/{id}", Limit: 600},
		{Name: ActionBucket, Pattern: "/api/v1/users/{id}/lifecycle/*", Limit: 600},
		{Name: ActionBucket, Pattern: "/api/v1/users/{id}/sessions", Limit: 600},
		{Name: ActionBucket, Pattern: "/api/v1/users/{id}/factors*", Limit: 600},
		{Name: ActionBucket, Pattern: "/api/v1/groups/{id}/users/{uid}", Limit: 600},
		{Name: "groups", Pattern: "/api/v1/groups", Limit: 600},
		{Name: "group", Pattern: "/api/v1/groups/{id}*", Limit: 600},
		{Name: "app", Pattern: "/api/v1/apps/{id}", Limit: 600},
		{Name: "apps", Pattern: "/api/v1/apps*", Limit: 100},
		{Name: "token", Method: "POST", Pattern: tokenPath, Limit: 600},
		{Name: "api", Pattern: "/*", Limit: 600},
	}
}

type limiter struct {
	cfg     RateLimits
	buckets []Bucket
	windows map[string]*window
}

type window struct {
	start time.Time
	used  int
	per   map[string]int
}

type rateState struct {
	limit, remaining int
	reset            time.Time
}

func newLimiter(cfg RateLimits) *limiter {
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.PrincipalShare <= 0 || cfg.PrincipalShare > 1 {
		cfg.PrincipalShare = 0.5
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 75
	}
	l := &limiter{cfg: cfg, buckets: DefaultBuckets(), windows: map[string]*window{}}
	for _, o := range cfg.Buckets {
		replaced := false
		for i, b := range l.buckets {
			if b.Name == o.Name && (o.Pattern == "" || (o.Pattern == b.Pattern && o.Method == b.Method)) {
				l.buckets[i].Limit, replaced = o.Limit, true
			}
		}
		if !replaced && o.Pattern != "" {
			l.buckets = append(l.buckets, o)
		}
	}
	return l
}

// bucketFor picks the bucket: exact pattern match beats prefix, longer prefix beats shorter,
// a method-specific bucket beats an any-method one, later (override) beats earlier.
func (l *limiter) bucketFor(method, path string) Bucket {
	segs := splitPath(path)
	best, bestScore := l.buckets[len(l.buckets)-1], -1
	for _, b := range l.buckets {
		if b.Method != "" && b.Method != method {
			continue
		}
		score := patternScore(b.Pattern, segs) * 2
		if score < 0 {
			continue
		}
		if b.Method != "" {
			score++
		}
		if score >= bestScore {
			best, bestScore = b, score
		}
	}
	return best
}

// patternScore is -1 for no match, 10000+len for an exact match, the prefix length otherwise.
func patternScore(pattern string, segs []string) int {
	prefix := strings.HasSuffix(pattern, "*")
	ps := strings.Split(strings.Trim(strings.TrimSuffix(pattern, "*"), "/"), "/")
	if len(ps) == 1 && ps[0] == "" {
		ps = nil
	}
	if (!prefix && len(segs) != len(ps)) || (prefix && len(segs) < len(ps)) {
		return -1
	}
	for i, p := range ps {
		last := prefix && i == len(ps)-1
		switch {
		case strings.HasPrefix(p, "{"):
		case last && strings.HasPrefix(segs[i], p):
		case p != segs[i]:
			return -1
		}
	}
	if prefix {
		return len(pattern)
	}
	return 10000 + len(pattern)
}

func (l *limiter) window(name string, limit int, now time.Time) *window {
	w := l.windows[name]
	if w == nil || !now.Before(w.start.Add(l.cfg.Window)) {
		w = &window{start: now, per: map[string]int{}}
		l.windows[name] = w
	}
	return w
}

func (l *limiter) principalLimit(limit int) int {
	return max(1, int(math.Floor(l.cfg.PrincipalShare*float64(limit))))
}

// take spends one request of the principal in the request's bucket.
func (l *limiter) take(method, path, principal string, now time.Time) (rateState, bool) {
	b := l.bucketFor(method, path)
	w := l.window(b.Name, b.Limit, now)
	plimit := l.principalLimit(b.Limit)
	allowed := l.cfg.Disabled || (w.used < b.Limit && w.per[principal] < plimit)
	if allowed {
		w.used++
		w.per[principal]++
	}
	remaining := max(0, min(plimit-w.per[principal], b.Limit-w.used))
	return rateState{limit: plimit, remaining: remaining, reset: w.start.Add(l.cfg.Window)}, allowed
}

// Drain empties a bucket for the rest of its current window (starting one if none runs),
// so the next request in it gets 429. It reports whether the bucket exists.
func (s *Sim) Drain(bucket string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.limiter.buckets {
		if b.Name == bucket {
			w := s.limiter.window(b.Name, b.Limit, s.now())
			w.used = b.Limit
			return true
		}
	}
	return false
}

// BucketFor names the bucket a request counts against, for tests and docs.
func (s *Sim) BucketFor(method, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limiter.bucketFor(method, path).Name
}
