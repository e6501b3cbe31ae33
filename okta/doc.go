// Package okta talks to Okta for oktaq: connections and their policy,
// authentication, the executor that performs each action with the fewest
// correct calls, the classification of Okta's errors, and rate-limit state
// shared through Redis. Package oktasim is an in-memory Okta for tests.
package okta
