package ratelimit

import (
	"context"
	"sync"
	"time"
)

// lostSlots are in-flight slots this process could not release: the call
// ended while Redis did not answer (observe failed), or Redis failed while
// granting (the grant may have been written and its answer lost). Left
// alone, each would hold a slot of the in-flight cap until its lease ends
// (Config.Lease past its last renewal), so a Redis outage of a few seconds kept
// the connection's first calls out for half a minute after Redis was back.
// They are released at the connection's next Acquire or Peek that reaches
// Redis: one ZREM, only while some are kept. A slot whose lease has ended
// is forgotten (Redis dropped it already); a restarted, empty Redis makes
// the ZREM a no-op.
type lostSlots struct {
	mu sync.Mutex
	m  map[string][]lostSlot // connection -> slots
}

type lostSlot struct {
	member string
	until  time.Time // when its lease ends anyway (local monotonic clock)
}

// maxLostSlots bounds what one connection keeps: far more than the calls
// a process has in flight.
const maxLostSlots = 4096

func (s *lostSlots) add(conn, member string, lease time.Duration) {
	if member == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]lostSlot{}
	}
	if len(s.m[conn]) < maxLostSlots {
		s.m[conn] = append(s.m[conn], lostSlot{member: member, until: time.Now().Add(lease)})
	}
}

// take removes and returns the connection's slots whose lease has not
// ended yet.
func (s *lostSlots) take(conn string) []lostSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.m[conn]
	if len(slots) == 0 {
		return nil
	}
	delete(s.m, conn)
	now := time.Now()
	out := slots[:0]
	for _, sl := range slots {
		if now.Before(sl.until) {
			out = append(out, sl)
		}
	}
	return out
}

// keep puts back slots that could not be released.
func (s *lostSlots) keep(conn string, slots []lostSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]lostSlot{}
	}
	s.m[conn] = append(s.m[conn], slots...)
	if len(s.m[conn]) > maxLostSlots {
		s.m[conn] = s.m[conn][:maxLostSlots]
	}
}

// releaseLost releases the slots kept for conn; the ones Redis did not
// take are kept for the next try.
func (l *Limiter) releaseLost(ctx context.Context, conn string) {
	slots := l.lost.take(conn)
	if len(slots) == 0 {
		return
	}
	args := make([]any, len(slots))
	for i, sl := range slots {
		args[i] = sl.member
	}
	if err := l.rdb.ZRem(ctx, inflightKey(conn), args...).Err(); err != nil {
		l.lost.keep(conn, slots)
		return
	}
	l.opts.Logger.InfoContext(ctx, "rate limiter: released calls in flight whose end Redis missed", "connection", conn, "calls", len(slots))
}
