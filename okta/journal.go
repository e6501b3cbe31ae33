package okta

import (
	"context"
	"encoding/json"
	"fmt"
)

// Journal carries, across the attempts of one task, the fact that a call
// with side effects was sent and no answer came back. Within one attempt
// the executor handles a lost answer itself (afterLostAnswer); the journal
// covers the attempt that never finished: a worker killed between sending
// the call and recording the result. The next attempt, in any process,
// finds the entry and decides from the user's state whether the call took
// effect, instead of sending it again (a second reset email, a second
// temporary password).
//
// The worker provides one per task (in Redis, keyed by task id) through
// WithJournal. Without one, the executor behaves as before.
type Journal interface {
	// Sent records, just before a call with side effects, the user as
	// read before it.
	Sent(ctx context.Context, before []byte) error
	// Answered records that Okta answered that call (with any status): its
	// fate is known and nothing is pending.
	Answered(ctx context.Context) error
	// Pending returns what an earlier attempt recorded with Sent and never
	// closed with Answered.
	Pending(ctx context.Context) (before []byte, ok bool, err error)
}

type journalKey struct{}

// WithJournal makes the executor record side-effect calls in j.
func WithJournal(ctx context.Context, j Journal) context.Context {
	return context.WithValue(ctx, journalKey{}, j)
}

func journalFrom(ctx context.Context) Journal {
	j, _ := ctx.Value(journalKey{}).(Journal)
	return j
}

// pendingBefore returns the user as an unfinished earlier attempt saw it
// before its call, or nil. A journal that cannot be read is an error: the
// earlier call's fate would be unknown, and sending it again could send a
// second email.
func pendingBefore(ctx context.Context, j Journal, id string) (*oktaUser, error) {
	if j == nil {
		return nil, nil
	}
	b, ok, err := j.Pending(ctx)
	if err != nil {
		return nil, &TransientError{Err: fmt.Errorf("journal unreadable: %w", err)}
	}
	if !ok {
		return nil, nil
	}
	var u oktaUser
	if json.Unmarshal(b, &u) != nil || u.ID != id {
		return nil, nil
	}
	return &u, nil
}
