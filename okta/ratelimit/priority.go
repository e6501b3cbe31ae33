package ratelimit

import "context"

// Priority is the class of work an Okta call belongs to. The limiter makes
// lower classes leave headroom in each bucket that only higher ones may
// spend, so that a bulk job of 500 group changes cannot starve an urgent
// suspend. The zero value is PriorityDefault.
type Priority int

// Priorities, lowest first in importance: bulk yields to default, default
// to critical.
const (
	PriorityDefault Priority = iota
	PriorityBulk
	PriorityCritical
)

func (p Priority) String() string {
	switch p {
	case PriorityBulk:
		return "bulk"
	case PriorityCritical:
		return "critical"
	default:
		return "default"
	}
}

// class is the rank the limiter's scripts compare: 0 bulk, 1 default,
// 2 critical.
func (p Priority) class() int {
	switch p {
	case PriorityBulk:
		return 0
	case PriorityCritical:
		return 2
	default:
		return 1
	}
}

type priorityKey struct{}

// WithPriority marks the Okta calls made with ctx as of class p. The
// worker sets it from the task before the gate and the executor run.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFrom is the class WithPriority put in ctx, PriorityDefault if
// none.
func PriorityFrom(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}
