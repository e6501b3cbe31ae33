package ratelimit_test

import (
	"testing"

	"github.com/oktaq/oktaq/okta/ratelimit"
)

func TestBucketFor(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/v1/users", ratelimit.BucketUsers},
		{"GET", "/api/v1/users/00u1", ratelimit.BucketUsersGetOne},
		{"GET", "/api/v1/users/a+b%40example.com", ratelimit.BucketUsersGetOne},
		{"POST", "/api/v1/users/00u1", ratelimit.BucketUsersWrite},
		{"POST", "/api/v1/users/00u1/lifecycle/suspend", ratelimit.BucketUserLifecycle},
		{"DELETE", "/api/v1/users/00u1/sessions", ratelimit.BucketUserLifecycle},
		{"GET", "/api/v1/users/00u1/groups", ratelimit.BucketUserGroups},
		{"GET", "/api/v1/groups", ratelimit.BucketGroups},
		{"GET", "/api/v1/groups/00g1", ratelimit.BucketGroupsID},
		{"PUT", "/api/v1/groups/00g1/users/00u1", ratelimit.BucketGroupMembers},
		{"GET", "/api/v1/apps", ratelimit.BucketApps},
		{"GET", "/api/v1/apps/0oa1", ratelimit.BucketAppsID},
		{"POST", "/api/v1/apps/0oa1/users", ratelimit.BucketApps},
		{"POST", "/oauth2/v1/token", ratelimit.BucketToken},
		{"GET", "/api/v1/logs", ratelimit.BucketOther},
	} {
		if got := ratelimit.BucketFor(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}
