// Package worker is the asynq server that turns queued actions into done
// actions. Each task passes a chain of middleware, each link one job:
//
//	verify (decode, check the signature) -> validate -> authorize (scope
//	and role, again: config may have changed while the task waited) ->
//	lease the user (one action per user of a connection at a time, in
//	all workers) -> gate (reschedule without calling Okta when the bucket
//	is known empty, or the connection's breaker holds it) -> execute
//
// wrapped by record, which runs last: it writes the result (asynq's
// ResultWriter), the metrics and one audit line per attempt.
//
// Retry policy lives in asynq's hooks (RetryDelayFunc, IsFailure,
// SkipRetry), not in a loop of ours; a handler never sleeps to wait for a
// rate limit.
package worker
