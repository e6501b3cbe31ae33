package oktasim_test

import (
	"testing"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// The simulator counts calls as Okta's own table does
// (terraform-provider-okta okta/internal/apimutex/rate_limit_lines.go):
// everything under /api/v1/users/{id}/ against /api/v1/users, group
// membership against /api/v1/groups, app assignments against /api/v1/apps.
func TestBucketsFollowOktasTable(t *testing.T) {
	sim := oktasim.New(oktasim.Options{})
	cases := []struct{ method, path, bucket string }{
		{"GET", "/api/v1/users", oktasim.UsersBucket},
		{"POST", "/api/v1/users/00u1/lifecycle/suspend", oktasim.UsersBucket},
		{"POST", "/api/v1/users/00u1/lifecycle/reset_factors", oktasim.UsersBucket},
		{"DELETE", "/api/v1/users/00u1/sessions", oktasim.UsersBucket},
		{"GET", "/api/v1/users/00u1/factors", oktasim.UsersBucket},
		{"GET", "/api/v1/users/00u1/groups", oktasim.UsersBucket},
		{"GET", "/api/v1/users/00u1", "user-get"},
		{"DELETE", "/api/v1/users/00u1", "user-update"},
		{"GET", "/api/v1/groups", "groups"},
		{"GET", "/api/v1/groups/00g1", "group"},
		{"GET", "/api/v1/groups/00g1/users", "groups"},
		{"PUT", "/api/v1/groups/00g1/users/00u1", "groups"},
		{"DELETE", "/api/v1/groups/00g1/users/00u1", "groups"},
		{"GET", "/api/v1/apps", "apps"},
		{"GET", "/api/v1/apps/0oa1", "app"},
		{"POST", "/api/v1/apps/0oa1/users", "apps"},
		{"GET", "/api/v1/apps/0oa1/users/00u1", "apps"},
		{"DELETE", "/api/v1/apps/0oa1/users/00u1", "apps"},
	}
	for _, c := range cases {
		if got := sim.BucketFor(c.method, c.path); got != c.bucket {
			t.Errorf("%s %s: bucket %q, want %q", c.method, c.path, got, c.bucket)
		}
	}
}

// Another client listing users spends the org-wide /api/v1/users budget
// that our lifecycle calls need.
func TestUserListingDrainsLifecycleBudget(t *testing.T) {
	sim, srv := start(t, oktasim.Options{RateLimits: oktasim.RateLimits{PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: oktasim.UsersBucket, Limit: 5}}}})
	sim.AddAPIToken("other-integration")
	for range 5 {
		if r := do(t, srv, "GET", "/api/v1/users", "Authorization", "SSWS other-integration"); r.StatusCode != 200 {
			t.Fatalf("listing: %d", r.StatusCode)
		}
	}
	if r := do(t, srv, "POST", "/api/v1/users/alice@example.com/lifecycle/suspend"); r.StatusCode != 429 {
		t.Fatalf("suspend after another client spent /api/v1/users: %d, want 429", r.StatusCode)
	}
}
