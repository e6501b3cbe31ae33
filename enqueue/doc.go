// Package enqueue is how producers hand actions to oktaq: the typed Go
// Client (validate, check the connection's policy, sign, enqueue with the
// idempotency key as the asynq task id), the HTTP API for ticketing systems
// built on it (NewAPI, Serve), and the API's OpenAPI document.
package enqueue
