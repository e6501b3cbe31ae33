package oktasim

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults are failures injected on demand. The zero value injects nothing.
type Faults struct {
	Latency       time.Duration // added to every matching request, before it is handled
	LatencyJitter time.Duration // plus a uniform random [0, LatencyJitter)
	ErrorRate     float64       // share of matching requests answered 5xx without being applied
	ErrorStatus   int           // 500, 502 or 503; 0 picks one of them at random
	DropBefore    float64       // share of requests whose connection is closed before they are applied
	DropAfter     float64       // share of requests applied and then closed without an answer
	// DropAfterMatch further limits DropAfter to paths containing it.
	DropAfterMatch string
	// MaxDrops caps the number of dropped connections (0 = no cap). The SDK retries io.EOF
	// without limit, replaying POSTs, so a test usually wants MaxDrops: 1.
	MaxDrops int
	// Match limits all faults to paths containing it ("" = every path, the token endpoint too).
	Match string
	// TokenErrorRate is the share of token requests (POST /oauth2/v1/token) answered 5xx,
	// whatever Match says: an authorization server in trouble while the API is fine.
	TokenErrorRate float64
}

// SetFaults replaces the injected faults and resets the drop counter.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.drops = f, 0
}

// CurrentFaults returns the faults injected now.
func (s *Sim) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Drops counts connections dropped since the last SetFaults.
func (s *Sim) Drops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drops
}

// dice draws the random numbers of fault injection: from a generator of
// its own when the simulator was given a FaultSeed (the same requests in
// the same order meet the same faults), else from the global one.
type dice struct {
	mu  sync.Mutex
	rng *rand.Rand // nil: math/rand/v2's global generator
}

func newDice(seed uint64) *dice {
	if seed == 0 {
		return &dice{}
	}
	return &dice{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (d *dice) float() float64 {
	if d.rng == nil {
		return rand.Float64()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64()
}

func (d *dice) intN(n int) int {
	if d.rng == nil {
		return rand.IntN(n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.IntN(n)
}

func (d *dice) duration(n time.Duration) time.Duration {
	if d.rng == nil {
		return rand.N(n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Duration(d.rng.Int64N(int64(n)))
}

// hit reports whether an event of probability share happens.
func (d *dice) hit(share float64) bool { return share > 0 && d.float() < share }

func (f Faults) matches(path string) bool { return f.Match == "" || strings.Contains(path, f.Match) }

func (f Faults) delay(d *dice) time.Duration {
	t := f.Latency
	if f.LatencyJitter > 0 {
		t += d.duration(f.LatencyJitter)
	}
	return t
}

func (f Faults) error(d *dice) (int, bool) {
	if !d.hit(f.ErrorRate) {
		return 0, false
	}
	return f.status(d), true
}

func (f Faults) status(d *dice) int {
	if f.ErrorStatus != 0 {
		return f.ErrorStatus
	}
	codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
	return codes[d.intN(len(codes))]
}

// roll decides whether to drop this request, respecting MaxDrops.
func (s *Sim) roll(share float64, maxDrops int) bool {
	if !s.dice.hit(share) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxDrops > 0 && s.drops >= maxDrops {
		return false
	}
	s.drops++
	return true
}
