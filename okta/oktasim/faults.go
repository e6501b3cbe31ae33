package oktasim

import (
	"math/rand/v2"
	"net/http"
	"strings"
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
}

// SetFaults replaces the injected faults and resets the drop counter.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.drops = f, 0
}

// Drops counts connections dropped since the last SetFaults.
func (s *Sim) Drops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drops
}

func (f Faults) matches(path string) bool { return f.Match == "" || strings.Contains(path, f.Match) }

func (f Faults) delay() time.Duration {
	d := f.Latency
	if f.LatencyJitter > 0 {
		d += rand.N(f.LatencyJitter)
	}
	return d
}

func (f Faults) error() (int, bool) {
	if f.ErrorRate <= 0 || rand.Float64() >= f.ErrorRate {
		return 0, false
	}
	if f.ErrorStatus != 0 {
		return f.ErrorStatus, true
	}
	codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
	return codes[rand.N(len(codes))], true
}

// roll decides whether to drop this request, respecting MaxDrops.
func (s *Sim) roll(share float64, maxDrops int) bool {
	if share <= 0 || rand.Float64() >= share {
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
