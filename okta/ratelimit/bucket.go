package ratelimit

import "strings"

// Rate-limit buckets, named after the path patterns of Okta's published
// Management API limits (okta-api-notes.md section 6). A bucket is org-wide:
// every client of the org draws on it.
//
//	bucket          method      path
//	users           GET, POST   /api/v1/users
//	users-get-one   GET         /api/v1/users/{idOrLogin}
//	users-write     POST, PUT,  /api/v1/users/{id}
//	                DELETE
//	user-lifecycle  any         /api/v1/users/{id}/lifecycle/*, /sessions, /factors*
//	user-groups     GET         /api/v1/users/{id}/groups
//	groups          any         /api/v1/groups
//	groups-id       any         /api/v1/groups/{id}
//	group-members   any         /api/v1/groups/{id}/users*
//	apps            any         /api/v1/apps and /api/v1/apps/{id}/* (the "apps* other" bucket)
//	apps-id         any         /api/v1/apps/{id}
//	oauth2-token    POST        /oauth2/v1/token
//	api-other       any         anything else
//
// Okta does not say which bucket user-lifecycle, user-groups and
// group-members count against. They are kept apart here so that the limit
// each one shows in X-Rate-Limit-Limit is learnt on its own (see
// learntByLimit) instead of being guessed.
const (
	BucketUsers         = "users"
	BucketUsersGetOne   = "users-get-one"
	BucketUsersWrite    = "users-write"
	BucketUserLifecycle = "user-lifecycle"
	BucketUserGroups    = "user-groups"
	BucketGroups        = "groups"
	BucketGroupsID      = "groups-id"
	BucketGroupMembers  = "group-members"
	BucketApps          = "apps"
	BucketAppsID        = "apps-id"
	BucketToken         = "oauth2-token"
	BucketOther         = "api-other"
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
		case len(seg) == 1:
			return BucketUsers
		case len(seg) == 2 && method == "GET":
			return BucketUsersGetOne
		case len(seg) == 2:
			return BucketUsersWrite
		case seg[2] == "lifecycle" || seg[2] == "sessions" || seg[2] == "factors":
			return BucketUserLifecycle
		case seg[2] == "groups":
			return BucketUserGroups
		}
	case "groups":
		switch {
		case len(seg) == 1:
			return BucketGroups
		case len(seg) == 2:
			return BucketGroupsID
		case seg[2] == "users":
			return BucketGroupMembers
		}
	case "apps":
		if len(seg) == 2 {
			return BucketAppsID
		}
		return BucketApps
	}
	return BucketOther
}
