package oktasim

import (
	"net/http"
	"strings"
)

func (c *call) group() (*group, response) {
	g := c.s.org.groups[c.params["gid"]]
	if g == nil {
		return nil, notFound(c.params["gid"], "UserGroup")
	}
	return g, response{}
}

func (s *Sim) getGroup(c *call) response {
	g, r := c.group()
	if g == nil {
		return r
	}
	return ok(s.groupBody(g))
}

// listGroups: q is a case-insensitive name prefix over every group type, not paged
// (limit default 300); search and the plain list are paged.
func (s *Sim) listGroups(c *call) response {
	q, search := c.q.Get("q"), c.q.Get("search")
	resp := ok(nil)
	var ids []string
	switch {
	case q != "":
		lq := strings.ToLower(q)
		for _, id := range s.org.grpOrder {
			if strings.HasPrefix(strings.ToLower(s.org.groups[id].name), lq) {
				ids = append(ids, id)
			}
		}
		limit := 300
		if v := c.q.Get("limit"); v != "" {
			if _, bad := c.page(nil, 300, 10000, &resp); bad != nil {
				return *bad
			}
			limit = atoiOr(v, 300)
		}
		ids = ids[:min(len(ids), limit)]
		resp.header = nil
	default:
		var e *expr
		if search != "" {
			var err error
			if e, err = parseExpr(search, nil); err != nil {
				return invalidSearch(err.Error())
			}
		}
		for _, id := range s.org.grpOrder {
			if e == nil || e.eval(groupAttrs(s.org.groups[id])) {
				ids = append(ids, id)
			}
		}
		var bad *response
		if ids, bad = c.page(ids, 10000, 10000, &resp); bad != nil {
			return *bad
		}
	}
	out := make([]groupJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.groupBody(s.org.groups[id]))
	}
	resp.body = out
	return resp
}

func atoiOr(v string, def int) int {
	n := 0
	for _, ch := range v {
		if ch < '0' || ch > '9' {
			return def
		}
		n = n*10 + int(ch-'0')
	}
	return n
}

func groupAttrs(g *group) map[string]string {
	return map[string]string{"id": g.id, "type": g.typ, "profile.name": g.name,
		"profile.description": g.description, "created": oktaTime(g.created),
		"lastUpdated": oktaTime(g.lastUpdated), "lastMembershipUpdated": oktaTime(g.lastMembershipUpdated)}
}

func (s *Sim) listGroupUsers(c *call) response {
	g, r := c.group()
	if g == nil {
		return r
	}
	var ids []string
	for _, id := range s.org.userOrder {
		if g.members[id] {
			ids = append(ids, id)
		}
	}
	resp := ok(nil)
	ids, bad := c.page(ids, 1000, 10000, &resp)
	if bad != nil {
		return *bad
	}
	out := make([]userJSON, 0, len(ids))
	for _, id := range ids {
		u := s.org.users[id]
		u.settle(c.now)
		out = append(out, s.userBody(u, false))
	}
	resp.body = out
	return resp
}

// membership resolves both ends and refuses groups whose membership Okta does not let the API change.
func (c *call) membership() (*group, *user, response) {
	g, r := c.group()
	if g == nil {
		return nil, nil, r
	}
	u, r := c.userByID("uid")
	if u == nil {
		return nil, nil, r
	}
	if g.typ != GroupOkta || !c.coversGroup(g) {
		return nil, nil, noPermission()
	}
	return g, u, response{}
}

func (s *Sim) addMember(c *call) response {
	g, u, r := c.membership()
	if g == nil {
		return r
	}
	if u.status == StatusDeprovisioned {
		return validationFailed("user", "Cannot add a deactivated user to a group")
	}
	if !g.members[u.id] {
		g.members[u.id], u.groups[g.id] = true, true
		g.lastMembershipUpdated = c.now
	}
	return noContent()
}

func (s *Sim) removeMember(c *call) response {
	g, u, r := c.membership()
	if g == nil {
		return r
	}
	if g.members[u.id] {
		delete(g.members, u.id)
		delete(u.groups, g.id)
		g.lastMembershipUpdated = c.now
	}
	return response{status: http.StatusNoContent}
}
