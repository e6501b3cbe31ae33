// Package tasks is the vocabulary shared by producers and workers: one Go
// type per Okta action, the request fields common to all of them, strict
// decoding and validation, HMAC signing of task payloads, and the result
// record a worker writes.
//
// It imports nothing of oktaq's, so a ticketing system can depend on it
// alone. A producer builds an action value, for example
//
//	a := &tasks.Suspend{Request: tasks.Request{User: "alice@example.com",
//		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
//
// and hands it to the enqueue client, which validates, signs and enqueues it.
package tasks
