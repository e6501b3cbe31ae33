package enqueue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

// newExampleClient connects to a Redis for the example (a test database
// here; in production the worker's OKTAQ_REDIS_URL).
func newExampleClient() (*enqueue.Client, func()) {
	db, cleanup, err := redistest.Start()
	if err != nil {
		panic(err)
	}
	keyring, err := tasks.ParseKeyring("k1=a-secret-of-16-bytes-or-more")
	if err != nil {
		panic(err)
	}
	roles, err := tasks.ParseRoles("*=it-admin;user.reset_password=helpdesk|it-admin")
	if err != nil {
		panic(err)
	}
	c := enqueue.NewFromRedisClient(db.Client, enqueue.Options{
		// The client enqueues as producer "helpdesk", which may assert
		// these requester roles (OKTAQ_PRODUCER_ROLES on the workers).
		Producer:  "helpdesk",
		Producers: tasks.Producers{Roles: map[string][]string{"helpdesk": {"it-admin", "helpdesk"}}},
		Keyring:   keyring,
		Connections: map[string]*tasks.Policy{"default": {Name: "default", Roles: roles,
			Scopes: []string{tasks.ScopeUsersManage, tasks.ScopeGroupsManage}}},
	})
	return c, func() { c.Close(); cleanup() }
}

// Suspend a user for a ticket. The task id derives from the producer and
// the idempotency key (enqueue.TaskID), so keys are the producer's own.
func ExampleClient_Enqueue_suspend() {
	c, done := newExampleClient()
	defer done()
	info, err := c.Enqueue(context.Background(), &tasks.Suspend{Request: tasks.Request{
		User:           "alice@example.com",
		Requester:      tasks.Requester{ID: "agent-42", Role: "it-admin"},
		Ticket:         tasks.Ticket{System: "helpdesk", ID: "REQ-1234"},
		IdempotencyKey: "REQ-1234-suspend",
	}})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(info.ID == enqueue.TaskID("helpdesk", "REQ-1234-suspend"), info.Action, info.Queue, info.State)
	// Output: true user.suspend critical pending
}

// Add a user to groups (by exact name or id) and remove them from
// another, tomorrow, as bulk work.
func ExampleClient_Enqueue_groups() {
	c, done := newExampleClient()
	defer done()
	info, err := c.Enqueue(context.Background(), &tasks.UpdateGroups{
		Request: tasks.Request{User: "bob@example.com", Requester: tasks.Requester{ID: "agent-7", Role: "it-admin"}},
		Groups:  tasks.GroupChanges{Add: []string{"Engineering", "00g1abcdefghijklmno"}, Remove: []string{"Interns"}},
	}, enqueue.After(24*time.Hour), enqueue.Bulk())
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(info.Action, info.Queue, info.State)
	// Output: user.groups.update low scheduled
}

// Enqueuing the same request again returns the existing task; the same key
// for another request is refused. A role the policy does not allow is
// refused before anything is enqueued, naming the role.
func ExampleClient_Enqueue_idempotent() {
	c, done := newExampleClient()
	defer done()
	ctx := context.Background()
	req := func(user string) *tasks.Unlock {
		return &tasks.Unlock{Request: tasks.Request{User: user, IdempotencyKey: "REQ-77-unlock",
			Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
	}
	first, _ := c.Enqueue(ctx, req("carol@example.com"))
	again, _ := c.Enqueue(ctx, req("carol@example.com"))
	fmt.Println(first.ID == again.ID, first.Existing, again.Existing)

	_, err := c.Enqueue(ctx, req("dave@example.com"))
	fmt.Println(errors.Is(err, enqueue.ErrKeyConflict))

	forbidden := req("erin@example.com")
	forbidden.IdempotencyKey, forbidden.Requester.Role = "", "helpdesk"
	_, err = c.Enqueue(ctx, forbidden)
	fmt.Println(err)
	// Output:
	// true false true
	// true
	// role "helpdesk" may not trigger user.unlock on connection "default"
}

// Read a task's state; once a worker has finished it, Result holds the
// outcome.
func ExampleClient_Status() {
	c, done := newExampleClient()
	defer done()
	ctx := context.Background()
	ref, err := c.Enqueue(ctx, &tasks.ClearSessions{
		Request: tasks.Request{User: "frank@example.com", IdempotencyKey: "REQ-9-sessions",
			Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}},
		Options: tasks.ClearSessionsOptions{OAuthTokens: tasks.Bool(true)},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	info, err := c.Status(ctx, ref.ID)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(info.State, info.Attempts, info.MaxAttempts, info.Result == nil)
	_, err = c.Status(ctx, "no-such-task")
	fmt.Println(errors.Is(err, enqueue.ErrNotFound))
	// Output:
	// pending 0 12 true
	// true
}

// exampleRedisURL is a Redis for the examples that run a worker: in
// production, the workers' OKTAQ_REDIS_URL.
func exampleRedisURL() (string, func()) {
	db, cleanup, err := redistest.Start()
	if err != nil {
		panic(err)
	}
	return db.URL, cleanup
}
