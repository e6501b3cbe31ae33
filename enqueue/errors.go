package enqueue

import "errors"

var (
	// ErrKeyConflict is wrapped when an idempotency key is already the id
	// of a task for a different request.
	ErrKeyConflict = errors.New("idempotency key already used for a different request")
	// ErrNotFound: no task with that id (or not one the producer may see).
	ErrNotFound = errors.New("task not found")
	// ErrUnavailable is wrapped when Redis cannot be reached; the request
	// was not enqueued and may be retried.
	ErrUnavailable = errors.New("task store unavailable")
)
