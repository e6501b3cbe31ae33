package oktasim

import (
	"strings"
)

func (s *Sim) getUser(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	return ok(s.userBody(u, true))
}

// listUsers serves GET /api/v1/users: q (prefix, no DEPROVISIONED), filter, search, or all
// users but DEPROVISIONED; paged with limit (default and max 200) and after.
func (s *Sim) listUsers(c *call) response {
	q, filter, search := c.q.Get("q"), c.q.Get("filter"), c.q.Get("search")
	var match func(*user) bool
	switch {
	case search != "":
		e, err := parseExpr(search, nil)
		if err != nil {
			return invalidSearch(err.Error())
		}
		match = func(u *user) bool { return e.eval(userAttrs(u)) }
	case filter != "":
		e, err := parseExpr(filter, filterAttrs)
		if err != nil {
			return invalidSearch(err.Error())
		}
		match = func(u *user) bool { return e.eval(userAttrs(u)) }
	case q != "":
		lq := strings.ToLower(q)
		match = func(u *user) bool {
			if u.status == StatusDeprovisioned {
				return false
			}
			for _, f := range []string{u.first, u.last, u.email, u.login} {
				if strings.HasPrefix(strings.ToLower(f), lq) {
					return true
				}
			}
			return false
		}
	default:
		match = func(u *user) bool { return u.status != StatusDeprovisioned }
	}
	var ids []string
	for _, id := range s.org.userOrder {
		u := s.org.users[id]
		u.settle(c.now)
		if match(u) {
			ids = append(ids, id)
		}
	}
	resp := ok(nil)
	ids, bad := c.page(ids, 200, 200, &resp)
	if bad != nil {
		return *bad
	}
	out := make([]userJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.userBody(s.org.users[id], false))
	}
	resp.body = out
	return resp
}

// filterAttrs are the only attributes Okta's legacy filter parameter accepts.
var filterAttrs = map[string]bool{"status": true, "lastUpdated": true, "id": true,
	"profile.login": true, "profile.email": true, "profile.firstName": true, "profile.lastName": true}

func userAttrs(u *user) map[string]string {
	return map[string]string{"id": u.id, "status": u.status, "created": oktaTime(u.created),
		"lastUpdated": oktaTime(u.lastUpdated), "profile.login": u.login, "profile.email": u.email,
		"profile.firstName": u.first, "profile.lastName": u.last,
		"credentials.provider.type": u.source}
}

func (s *Sim) listUserGroups(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	var ids []string
	for _, gid := range s.org.grpOrder {
		if u.groups[gid] {
			ids = append(ids, gid)
		}
	}
	resp := ok(nil)
	ids, bad := c.page(ids, 200, 200, &resp) // Okta pages a user's groups at 200 whatever limit asks
	if bad != nil {
		return *bad
	}
	out := make([]groupJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.groupBody(s.org.groups[id]))
	}
	resp.body = out
	return resp
}

// deleteUser is Okta's trap: it deactivates a user who is not DEPROVISIONED and deletes one who is.
func (s *Sim) deleteUser(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	if u.transitioning != "" {
		return stillTransitioning()
	}
	if u.status != StatusDeprovisioned {
		s.deactivate(u, c.now, c.boolParam("sendEmail", false))
		return noContent()
	}
	s.org.deleteUser(u)
	return noContent()
}

// listBlocks serves GET /api/v1/users/{id}/blocks: a LOCKED_OUT user is
// blocked on any device, a user blocked from unknown devices on those.
func (s *Sim) listBlocks(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	out := []map[string]string{}
	switch {
	case u.status == StatusLockedOut:
		out = append(out, map[string]string{"appliesTo": "ANY_DEVICES", "type": "DEVICE_BASED"})
	case u.blocked:
		out = append(out, map[string]string{"appliesTo": "UNKNOWN_DEVICES", "type": "DEVICE_BASED"})
	}
	return ok(out)
}

// clearSessions answers 204 even when there is nothing to clear, in any status.
func (s *Sim) clearSessions(c *call) response {
	u, r := c.user()
	if u == nil {
		return r
	}
	u.sessions = 0
	if c.boolParam("oauthTokens", false) {
		u.grants = 0
	}
	return noContent()
}
