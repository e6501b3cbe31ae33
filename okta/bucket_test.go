package okta_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

func TestBucket(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/v1/users", okta.BucketUsers},
		{"GET", "/api/v1/users/00u1", okta.BucketUsersGetOne},
		{"GET", "/api/v1/users/a+b%40example.com", okta.BucketUsersGetOne},
		{"POST", "/api/v1/users/00u1", okta.BucketUsersWrite},
		{"POST", "/api/v1/users/00u1/lifecycle/suspend", okta.BucketUserLifecycle},
		{"DELETE", "/api/v1/users/00u1/sessions", okta.BucketUserLifecycle},
		{"GET", "/api/v1/users/00u1/groups", okta.BucketUserGroups},
		{"GET", "/api/v1/groups", okta.BucketGroups},
		{"GET", "/api/v1/groups/00g1", okta.BucketGroupsID},
		{"PUT", "/api/v1/groups/00g1/users/00u1", okta.BucketGroupMembers},
		{"GET", "/api/v1/apps", okta.BucketApps},
		{"GET", "/api/v1/apps/0oa1", okta.BucketAppsID},
		{"POST", "/api/v1/apps/0oa1/users", okta.BucketApps},
		{"POST", "/oauth2/v1/token", okta.BucketToken},
		{"GET", "/api/v1/logs", okta.BucketOther},
	} {
		if got := okta.Bucket(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}

// A user still being activated answers E0000112: transient, retry later.
// activate itself is a no-op then (transitioningToStatus shows it is under way).
func TestTransitioningUser(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	u, _ := sim.User(login("STAGED"))
	sim.StickTransition(u.ID, time.Hour)
	ctx := context.Background()
	if res, err := e.Execute(ctx, &tasks.Activate{Request: req(e, u.ID)}); err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("%v %+v", err, res)
	}
	res, err := e.Execute(ctx, &tasks.Activate{Request: req(e, u.ID)})
	if err != nil || res.Outcome != tasks.OutcomeNoOp {
		t.Fatalf("second activate: %v %+v", err, res)
	}
	_, err = e.Execute(ctx, &tasks.Deactivate{Request: req(e, u.ID)})
	var tr *okta.TransientError
	if !errors.As(err, &tr) || tr.Status != 409 {
		t.Fatalf("deactivate while activating: %T %v", err, err)
	}
}
