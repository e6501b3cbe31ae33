package oktasim

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// route is one Management API endpoint with what it takes to call it.
type route struct {
	method  string
	pattern string // segments; {name} matches one path segment
	scope   string // OAuth scope required (a manage scope also grants its read scope)
	perm    string // admin-role permission, matched against SeedClient.DeniedPermissions
	handle  func(*call) response
}

// call carries one request into a handler. Handlers run with s.mu held.
type call struct {
	s      *Sim
	r      *http.Request
	params map[string]string
	q      url.Values
	now    time.Time
	p      *principal
}

func (s *Sim) routes() []route {
	const (
		ur, um = "okta.users.read", "okta.users.manage"
		gr, gm = "okta.groups.read", "okta.groups.manage"
		ar, am = "okta.apps.read", "okta.apps.manage"
	)
	rs := []route{
		{"GET", "/api/v1/users", ur, "user.read", s.listUsers},
		{"GET", "/api/v1/users/{id}", ur, "user.read", s.getUser},
		{"DELETE", "/api/v1/users/{id}", um, "user.delete", s.deleteUser},
		{"GET", "/api/v1/users/{id}/groups", ur, "user.read", s.listUserGroups},
		{"GET", "/api/v1/users/{id}/factors", ur, "user.read", s.listFactors},
		{"GET", "/api/v1/users/{id}/blocks", ur, "user.read", s.listBlocks},
		{"DELETE", "/api/v1/users/{id}/sessions", um, "user.clear_sessions", s.clearSessions},
		{"GET", "/api/v1/groups", gr, "group.read", s.listGroups},
		{"GET", "/api/v1/groups/{gid}", gr, "group.read", s.getGroup},
		{"GET", "/api/v1/groups/{gid}/users", gr, "group.read", s.listGroupUsers},
		{"PUT", "/api/v1/groups/{gid}/users/{uid}", gm, "user.groups.update", s.addMember},
		{"DELETE", "/api/v1/groups/{gid}/users/{uid}", gm, "user.groups.update", s.removeMember},
		{"GET", "/api/v1/apps", ar, "app.read", s.listApps},
		{"GET", "/api/v1/apps/{aid}", ar, "app.read", s.getApp},
		{"GET", "/api/v1/apps/{aid}/users", ar, "app.read", s.listAppUsers},
		{"POST", "/api/v1/apps/{aid}/users", am, "user.apps.update", s.assignApp},
		{"GET", "/api/v1/apps/{aid}/users/{uid}", ar, "app.read", s.getAppUser},
		{"DELETE", "/api/v1/apps/{aid}/users/{uid}", am, "user.apps.update", s.unassignApp},
	}
	for _, op := range lifecycleOps {
		rs = append(rs, route{"POST", "/api/v1/users/{id}/lifecycle/" + op.path, um, op.perm, op.handler(s)})
	}
	rs = append(rs, s.eventHookRoutes()...)
	return append(rs, s.pushRoutes()...)
}

// splitPath splits the escaped path and unescapes each segment, so a login with %2F stays one segment.
func splitPath(escaped string) []string {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}

func matchPattern(pattern string, segs []string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	if len(ps) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") {
			params[strings.Trim(p, "{}")] = segs[i]
		} else if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// findRoute returns the route, or a 404/405 response.
func (s *Sim) findRoute(r *http.Request) (route, map[string]string, *response) {
	segs := splitPath(r.URL.EscapedPath())
	var allow []string
	for _, rt := range s.routeTable {
		params, ok := matchPattern(rt.pattern, segs)
		if !ok {
			continue
		}
		if rt.method == r.Method {
			return rt, params, nil
		}
		allow = append(allow, rt.method)
	}
	if len(allow) > 0 {
		resp := oktaErr(http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		resp.header = http.Header{"Allow": {strings.Join(allow, ", ")}}
		return route{}, nil, &resp
	}
	resp := notFound(r.URL.Path, "Resource")
	return route{}, nil, &resp
}

// user resolves the {id} parameter (id, login or short login) and settles pending transitions.
func (c *call) user() (*user, response) {
	return c.userParam("id")
}

func (c *call) userParam(name string) (*user, response) {
	key := c.params[name]
	if key == "me" {
		// Okta: the user the token belongs to. An API token is its
		// admin's; a service app's OAuth token belongs to no user
		// (unverified: the 404 is the safe reading).
		key = ""
		if c.p != nil && c.p.client == nil {
			key = c.s.apiTokenOwner
		}
		if key == "" {
			return nil, notFound("me", "User")
		}
	}
	u := c.s.org.findUser(key)
	if u == nil {
		return nil, notFound(key, "User")
	}
	u.settle(c.now)
	if !c.covers(u) {
		return nil, noPermission()
	}
	return u, response{}
}

// userByID resolves a parameter that Okta accepts only as an id (group and app membership).
func (c *call) userByID(name string) (*user, response) {
	u := c.s.org.users[c.params[name]]
	if u == nil {
		return nil, notFound(c.params[name], "User")
	}
	u.settle(c.now)
	if !c.covers(u) {
		return nil, noPermission()
	}
	return u, response{}
}

func (c *call) boolParam(name string, def bool) bool {
	switch strings.ToLower(c.q.Get(name)) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}
