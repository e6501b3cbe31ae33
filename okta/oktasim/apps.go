package oktasim

import (
	"encoding/json"
	"net/http"
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
