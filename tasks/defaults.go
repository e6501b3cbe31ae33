package tasks

import "time"

// Defaults a producer and a worker must agree on. Each is written only
// here; the configuration's defaults are tested against them.
const (
	// DefaultMaxAttempts of an action, the first included: with the
	// worker's capped exponential backoff, 12 span about an hour.
	DefaultMaxAttempts = 12
	// DefaultTaskDeadline: an action not done this long after it was
	// requested is given up, rate-limit waits included.
	DefaultTaskDeadline = 2 * time.Hour
	// DefaultResultRetention keeps a finished action and its result
	// readable this long.
	DefaultResultRetention = 7 * 24 * time.Hour
	// DefaultApprovalTTL: an action awaiting a second person's approval
	// expires this long after it was requested.
	DefaultApprovalTTL = 24 * time.Hour
)
