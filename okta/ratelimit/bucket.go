package ratelimit

import "strings"

// Rate-limit buckets, as Okta counts them: its own table, generated from
// its service (terraform-provider-okta,
// okta/internal/apimutex/rate_limit_lines.go). A bucket is org-wide: every
// client of the org draws on it, so another integration listing users
// spends the budget of our suspends.
//
//	bucket          Okta's bucket               method  path
//	users           /api/v1/users               GET, POST /api/v1/users
//	                                            any     /api/v1/users/{id}/*: lifecycle,
//	                                                    sessions, factors, a user's groups
//	users-get-one   /api/v1/users/{id:.+}       GET     /api/v1/users/{idOrLogin}
//	users-write     /api/v1/users/{id}          POST, PUT, DELETE /api/v1/users/{id}
//	groups          /api/v1/groups              any     /api/v1/groups, /api/v1/groups/{id}/*:
//	                                                    members and membership changes
//	groups-id       /api/v1/groups/{id}         any     /api/v1/groups/{id}
//	apps            /api/v1/apps                any     /api/v1/apps, /api/v1/apps/{id}/*:
//	                                                    assignments
//	apps-id         /api/v1/apps/{id}           any     /api/v1/apps/{id}
//	oauth2-token    /oauth2/v1/token            POST    /oauth2/v1/token
//	api-other       (others)                    any     anything else
const (
	BucketUsers       = "users"
	BucketUsersGetOne = "users-get-one"
	BucketUsersWrite  = "users-write"
	BucketGroups      = "groups"
	BucketGroupsID    = "groups-id"
	BucketApps        = "apps"
	BucketAppsID      = "apps-id"
	BucketToken       = "oauth2-token"
	BucketOther       = "api-other"
)

// BucketFor maps a request to its rate-limit bucket. path is the URL path,
// escaped or not (a login with %40 is still one segment).
func BucketFor(method, path string) string {
	if path == "/oauth2/v1/token" {
		return BucketToken
	}
	rest, ok := strings.CutPrefix(path, "/api/v1/")
	if !ok {
		return BucketOther
	}
	seg := strings.Split(strings.Trim(rest, "/"), "/")
	switch seg[0] {
	case "users":
		switch {
		case len(seg) == 2 && method == "GET":
			return BucketUsersGetOne
		case len(seg) == 2:
			return BucketUsersWrite
		}
		return BucketUsers
	case "groups":
		if len(seg) == 2 {
			return BucketGroupsID
		}
		return BucketGroups
	case "apps":
		if len(seg) == 2 {
			return BucketAppsID
		}
		return BucketApps
	}
	return BucketOther
}
