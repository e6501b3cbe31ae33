package ratelimit_test

import (
	"testing"

	"github.com/oktaq/oktaq/okta/ratelimit"
)

// Okta's own table (terraform-provider-okta rate_limit_lines.go).
func TestBucketFor(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/v1/users", ratelimit.BucketUsers},
		{"GET", "/api/v1/users/00u1", ratelimit.BucketUsersGetOne},
		{"GET", "/api/v1/users/a+b%40example.com", ratelimit.BucketUsersGetOne},
		{"POST", "/api/v1/users/00u1", ratelimit.BucketUsersWrite},
		{"DELETE", "/api/v1/users/00u1", ratelimit.BucketUsersWrite},
		{"POST", "/api/v1/users/00u1/lifecycle/suspend", ratelimit.BucketUsers},
		{"POST", "/api/v1/users/00u1/lifecycle/reset_factors", ratelimit.BucketUsers},
		{"DELETE", "/api/v1/users/00u1/sessions", ratelimit.BucketUsers},
		{"GET", "/api/v1/users/00u1/factors", ratelimit.BucketUsers},
		{"GET", "/api/v1/users/00u1/groups", ratelimit.BucketUsers},
		{"GET", "/api/v1/groups", ratelimit.BucketGroups},
		{"GET", "/api/v1/groups/00g1", ratelimit.BucketGroupsID},
		{"GET", "/api/v1/groups/00g1/users", ratelimit.BucketGroups},
		{"PUT", "/api/v1/groups/00g1/users/00u1", ratelimit.BucketGroups},
		{"DELETE", "/api/v1/groups/00g1/users/00u1", ratelimit.BucketGroups},
		{"GET", "/api/v1/apps", ratelimit.BucketApps},
		{"GET", "/api/v1/apps/0oa1", ratelimit.BucketAppsID},
		{"POST", "/api/v1/apps/0oa1/users", ratelimit.BucketApps},
		{"GET", "/api/v1/apps/0oa1/users/00u1", ratelimit.BucketApps},
		{"DELETE", "/api/v1/apps/0oa1/users/00u1", ratelimit.BucketApps},
		{"POST", "/oauth2/v1/token", ratelimit.BucketToken},
		{"GET", "/api/v1/logs", ratelimit.BucketOther},
	} {
		if got := ratelimit.BucketFor(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}
