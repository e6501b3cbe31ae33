package oktasim

import "time"

// oktaTime formats like Okta: millisecond precision, always UTC, "Z".
func oktaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func nullTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := oktaTime(t)
	return &s
}

type href struct {
	Href   string `json:"href"`
	Method string `json:"method,omitempty"`
}

type userJSON struct {
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Created         string          `json:"created"`
	Activated       *string         `json:"activated"`
	StatusChanged   *string         `json:"statusChanged"`
	LastLogin       *string         `json:"lastLogin"`
	LastUpdated     string          `json:"lastUpdated"`
	PasswordChanged *string         `json:"passwordChanged"`
	Transitioning   string          `json:"transitioningToStatus,omitempty"`
	RealmID         string          `json:"realmId"`
	Type            map[string]any  `json:"type"`
	Profile         userProfileJSON `json:"profile"`
	Credentials     map[string]any  `json:"credentials"`
	Links           map[string]href `json:"_links"`
}

type userProfileJSON struct {
	FirstName   string  `json:"firstName"`
	LastName    string  `json:"lastName"`
	MobilePhone *string `json:"mobilePhone"`
	SecondEmail *string `json:"secondEmail"`
	Login       string  `json:"login"`
	Email       string  `json:"email"`
}

// userBody renders a user; full adds the lifecycle links a single GET carries.
func (s *Sim) userBody(u *user, full bool) userJSON {
	base := s.baseURL
	self := base + "/api/v1/users/" + u.id
	creds := map[string]any{"provider": map[string]string{"type": u.source, "name": providerName(u.source)}}
	if u.hasPassword {
		creds["password"] = map[string]any{}
	}
	j := userJSON{ID: u.id, Status: u.status, Created: oktaTime(u.created),
		Activated: nullTime(u.activated), StatusChanged: nullTime(u.statusChanged),
		LastLogin: nullTime(u.lastLogin), LastUpdated: oktaTime(u.lastUpdated),
		PasswordChanged: nullTime(u.passwordChanged), Transitioning: u.transitioning,
		RealmID: s.org.realmID, Type: map[string]any{"id": s.org.typeID},
		Profile:     userProfileJSON{FirstName: u.first, LastName: u.last, Login: u.login, Email: u.email},
		Credentials: creds, Links: map[string]href{"self": {Href: self}}}
	if !full {
		return j
	}
	j.Links["type"] = href{Href: base + "/api/v1/meta/types/user/" + s.org.typeID}
	j.Links["schema"] = href{Href: base + "/api/v1/meta/schemas/user/" + s.org.schemaID}
	for _, l := range lifecycleLinks(u) {
		j.Links[l.name] = href{Href: self + "/lifecycle/" + l.op, Method: "POST"}
	}
	return j
}

func providerName(source string) string { return providerNames[source] }

type groupJSON struct {
	ID                    string         `json:"id"`
	Created               string         `json:"created"`
	LastUpdated           string         `json:"lastUpdated"`
	LastMembershipUpdated string         `json:"lastMembershipUpdated"`
	ObjectClass           []string       `json:"objectClass"`
	Type                  string         `json:"type"`
	Profile               map[string]any `json:"profile"`
	Links                 map[string]any `json:"_links"`
}

const logoBase = "https://op3static.oktacdn.com/assets/img/logos/groups/odyssey/"

func (s *Sim) groupBody(g *group) groupJSON {
	self := s.baseURL + "/api/v1/groups/" + g.id
	oc := "okta:user_group"
	if g.typ == GroupApp {
		oc = "okta:windows_security_principal"
	}
	links := map[string]any{
		"logo": []map[string]string{
			{"name": "medium", "href": logoBase + "okta-medium.30ce6d4085dff29412984e4c191bc874.png", "type": "image/png"},
			{"name": "large", "href": logoBase + "okta-large.c3cb8cda8ae0add1b4fe928f5844dbe3.png", "type": "image/png"},
		},
		"users": href{Href: self + "/users"},
		"apps":  href{Href: self + "/apps"},
	}
	if g.typ == GroupOkta {
		links["owners"] = href{Href: self + "/owners"}
	}
	return groupJSON{ID: g.id, Created: oktaTime(g.created), LastUpdated: oktaTime(g.lastUpdated),
		LastMembershipUpdated: oktaTime(g.lastMembershipUpdated), ObjectClass: []string{oc},
		Type: g.typ, Profile: map[string]any{"name": g.name, "description": g.description}, Links: links}
}

type appUserJSON struct {
	ID              string            `json:"id"`
	ExternalID      *string           `json:"externalId"`
	Created         string            `json:"created"`
	LastUpdated     string            `json:"lastUpdated"`
	Scope           string            `json:"scope"`
	Status          string            `json:"status"`
	StatusChanged   string            `json:"statusChanged"`
	PasswordChanged *string           `json:"passwordChanged"`
	SyncState       string            `json:"syncState"`
	Credentials     map[string]string `json:"credentials"`
	Profile         map[string]any    `json:"profile"`
	Links           map[string]href   `json:"_links"`
}

func (s *Sim) appUserBody(a *app, as *assignment, u *user) appUserJSON {
	return appUserJSON{ID: u.id, Created: oktaTime(as.created), LastUpdated: oktaTime(as.lastUpdated),
		Scope: "USER", Status: "ACTIVE", StatusChanged: oktaTime(as.since), SyncState: "DISABLED",
		Credentials: map[string]string{"userName": u.login},
		Profile: map[string]any{"given_name": u.first, "family_name": u.last, "email": u.email,
			"name": u.first + " " + u.last, "locale": "en_US", "zoneinfo": "America/Los_Angeles"},
		Links: map[string]href{"app": {Href: s.baseURL + "/api/v1/apps/" + a.id},
			"user": {Href: s.baseURL + "/api/v1/users/" + u.id}}}
}
