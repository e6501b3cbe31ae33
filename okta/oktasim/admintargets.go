package oktasim

import "strings"

// A client's admin role may cover only some users and groups (Okta's
// resource sets, e.g. a help-desk role scoped to groups). Outside them Okta
// answers 403 E0000006 although the token carries the scope. The simulator
// limits calls that change something; reads pass (unverified: a scoped
// role may also hide users it does not cover from reads).

// covers reports whether the caller's admin role may change u. GETs are
// never limited.
func (c *call) covers(u *user) bool {
	t := c.targets()
	if t == nil || c.r.Method == "GET" {
		return true
	}
	for _, l := range t.Users {
		if strings.EqualFold(l, u.login) {
			return true
		}
	}
	for _, name := range t.Groups {
		if g := c.s.groupByName(name); g != nil && g.members[u.id] {
			return true
		}
	}
	return false
}

// coversGroup reports whether the caller's admin role may change g's
// membership: the group must be in its resource set.
func (c *call) coversGroup(g *group) bool {
	t := c.targets()
	if t == nil || c.r.Method == "GET" {
		return true
	}
	for _, name := range t.Groups {
		if name == g.name {
			return true
		}
	}
	return false
}

func (c *call) targets() *AdminTargets {
	if c.p == nil || c.p.client == nil {
		return nil
	}
	return c.s.adminTargets[c.p.client.id]
}
