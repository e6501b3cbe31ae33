package oktasim

import (
	"encoding/json"
	"net/http"
	"strings"
)

func (c *call) app() (*app, response) {
	a := c.s.org.apps[c.params["aid"]]
	if a == nil {
		return nil, notFound(c.params["aid"], "AppInstance")
	}
	return a, response{}
}

func (s *Sim) listAppUsers(c *call) response {
	a, r := c.app()
	if a == nil {
		return r
	}
	resp := ok(nil)
	ids, bad := c.page(append([]string(nil), a.order...), 50, 500, &resp)
	if bad != nil {
		return *bad
	}
	out := make([]appUserJSON, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.appUserBody(a, a.users[id], s.org.users[id]))
	}
	resp.body = out
	return resp
}

// assignApp assigns directly (scope USER). A repeat answers 200 with the existing assignment.
func (s *Sim) assignApp(c *call) response {
	a, r := c.app()
	if a == nil {
		return r
	}
	var body struct {
		ID    string `json:"id"`
		Scope string `json:"scope"`
	}
	if err := json.NewDecoder(c.r.Body).Decode(&body); err != nil || body.ID == "" {
		return validationFailed("AppUser", "id: The field cannot be left blank")
	}
	u := s.org.users[body.ID]
	if u == nil {
		return notFound(body.ID, "User")
	}
	u.settle(c.now)
	if !c.covers(u) {
		return noPermission()
	}
	if in(u.status, StatusStaged, StatusDeprovisioned) {
		return oktaErr(http.StatusForbidden, "E0000117",
			"Cannot assign apps or update app profiles for an inactive user.")
	}
	as := a.users[u.id]
	if as == nil {
		as = &assignment{userID: u.id, created: c.now, lastUpdated: c.now, since: c.now}
		a.users[u.id] = as
		a.order = append(a.order, u.id)
	}
	return ok(s.appUserBody(a, as, u))
}

func (s *Sim) getAppUser(c *call) response {
	a, r := c.app()
	if a == nil {
		return r
	}
	as := a.users[c.params["uid"]]
	if as == nil {
		return notFound(c.params["uid"], "AppUser")
	}
	return ok(s.appUserBody(a, as, s.org.users[as.userID]))
}

func (s *Sim) unassignApp(c *call) response {
	a, r := c.app()
	if a == nil {
		return r
	}
	if !a.unassign(c.params["uid"]) {
		return notFound(c.params["uid"], "AppUser")
	}
	return noContent()
}

// appName is the catalogue name Okta gives a custom app: the label, lower
// case, with non-alphanumerics replaced.
func appName(label string) string {
	b := []byte(strings.ToLower(label))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

func (s *Sim) appBody(a *app) map[string]any {
	base := s.baseURL + "/api/v1/apps/" + a.id
	return map[string]any{
		"id": a.id, "name": appName(a.label), "label": a.label, "status": "ACTIVE",
		"created": oktaTime(a.created), "lastUpdated": oktaTime(a.created),
		"signOnMode": "BOOKMARK", "accessibility": map[string]any{"selfService": false, "errorRedirectUrl": nil, "loginRedirectUrl": nil},
		"visibility": map[string]any{"autoSubmitToolbar": false, "hide": map[string]bool{"iOS": false, "web": false}},
		"features":   []string{}, "credentials": map[string]any{"userNameTemplate": map[string]string{"template": "${source.login}", "type": "BUILT_IN"}},
		"settings": map[string]any{"app": map[string]any{"requestIntegration": false, "url": "https://example.com/" + appName(a.label)}},
		"_links": map[string]any{
			"users":      map[string]string{"href": base + "/users"},
			"groups":     map[string]string{"href": base + "/groups"},
			"self":       map[string]string{"href": base},
			"deactivate": map[string]string{"href": base + "/lifecycle/deactivate"},
		},
	}
}

func (s *Sim) getApp(c *call) response {
	a, r := c.app()
	if a == nil {
		return r
	}
	return ok(s.appBody(a))
}

// listApps answers GET /api/v1/apps: q is a case-insensitive prefix match
// on name or label (as Okta's startsWith), paged with limit/after.
//
// filter=user.id eq "00u..." lists the apps assigned to that user (as
// Okta's filter); with expand=user/{id} each carries the assignment in
// _embedded.user (its scope says direct USER or through a GROUP).
func (s *Sim) listApps(c *call) response {
	q := strings.ToLower(c.q.Get("q"))
	uid, byUser := "", false
	if f := c.q.Get("filter"); f != "" {
		v, ok := strings.CutPrefix(f, `user.id eq "`)
		if !ok || !strings.HasSuffix(v, `"`) {
			return validationFailed("App", "filter: only user.id eq \"<id>\" is supported by the simulator")
		}
		uid, byUser = strings.TrimSuffix(v, `"`), true
	}
	var ids []string
	for _, id := range s.org.appOrder {
		a := s.org.apps[id]
		if byUser && a.users[uid] == nil {
			continue
		}
		if q == "" || strings.HasPrefix(strings.ToLower(a.label), q) || strings.HasPrefix(appName(a.label), q) {
			ids = append(ids, id)
		}
	}
	resp := ok(nil)
	ids, bad := c.page(ids, 20, 200, &resp)
	if bad != nil {
		return *bad
	}
	out := make([]map[string]any, 0, len(ids))
	embed := byUser && c.q.Get("expand") == "user/"+uid
	for _, id := range ids {
		a := s.org.apps[id]
		body := s.appBody(a)
		if embed {
			body["_embedded"] = map[string]any{"user": s.appUserBody(a, a.users[uid], s.org.users[uid])}
		}
		out = append(out, body)
	}
	resp.body = out
	return resp
}
