package oktasim

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Seed describes an org to load. It is also the `oktaq sim --seed` file format.
type Seed struct {
	Users     []SeedUser   `json:"users"`
	Groups    []SeedGroup  `json:"groups"`
	Apps      []SeedApp    `json:"apps"`
	Clients   []SeedClient `json:"clients"`
	APITokens []string     `json:"api_tokens"`
	// APITokenOwner is the login of the admin who made the API tokens:
	// GET /api/v1/users/me with one of them answers that user, as Okta does.
	APITokenOwner string      `json:"api_token_owner,omitempty"`
	RateLimits    *RateLimits `json:"rate_limits,omitempty"`
}

// SeedUser is one user. Status defaults to ACTIVE, Source to "OKTA".
type SeedUser struct {
	ID        string   `json:"id,omitempty"`
	Login     string   `json:"login"`
	Email     string   `json:"email,omitempty"`
	FirstName string   `json:"firstName,omitempty"`
	LastName  string   `json:"lastName,omitempty"`
	Status    string   `json:"status,omitempty"`
	Groups    []string `json:"groups,omitempty"`  // group names
	Factors   []string `json:"factors,omitempty"` // factorType: "sms", "token:software:totp", "push", ...
	Apps      []string `json:"apps,omitempty"`    // app labels
	// Source is credentials.provider.type: OKTA, ACTIVE_DIRECTORY, LDAP,
	// FEDERATION or SOCIAL (see Provider* and doc.go).
	Source   string `json:"source,omitempty"`
	Password bool   `json:"password,omitempty"`
	Sessions int    `json:"sessions,omitempty"`
	// Grants counts OAuth refresh tokens; clearing sessions with
	// oauthTokens=true revokes them.
	Grants int `json:"grants,omitempty"`
	// BlockedUnknownDevices: the user is blocked from unknown devices
	// (GET /users/{id}/blocks shows it); unlock clears it.
	BlockedUnknownDevices bool `json:"blocked_unknown_devices,omitempty"`
}

// SeedGroup is one group; Type defaults to OKTA_GROUP.
type SeedGroup struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// SeedApp is one app instance.
type SeedApp struct {
	ID    string `json:"id,omitempty"`
	Label string `json:"label"`
}

// SeedClient is an OAuth service app. DeniedPermissions lists actions its admin role lacks
// (see doc.go); such calls get 403 E0000006 although the token carries the scope.
//
// AppType is AppAPIServiceIntegration (an OIN API service integration: a client secret sent
// with client_secret_basic) or AppService (a custom service app: private_key_jwt only; a
// secret gets invalid_client for Okta scopes). Empty means AppService when PublicKeyPEM is
// set, else AppAPIServiceIntegration. RequireDPoP makes the client demand DPoP-bound tokens
// (RFC 9449), checked on the token request and on every API call.
type SeedClient struct {
	ClientID          string   `json:"client_id"`
	AppType           string   `json:"app_type,omitempty"`
	ClientSecret      string   `json:"client_secret,omitempty"`
	PublicKeyPEM      string   `json:"public_key_pem,omitempty"`
	KeyID             string   `json:"kid,omitempty"`
	Scopes            []string `json:"scopes"`
	DeniedPermissions []string `json:"denied_permissions,omitempty"`
	RequireDPoP       bool     `json:"require_dpop,omitempty"`
	// AdminTargets, when set, limits the client's admin role to these
	// users and groups (a group-scoped help-desk role): a call that
	// changes a user outside them, or the membership of a group not
	// listed, gets 403 E0000006. Reads are not limited.
	AdminTargets *AdminTargets `json:"admin_targets,omitempty"`
}

// AdminTargets is the resource set of a client's admin role.
type AdminTargets struct {
	Users  []string `json:"users,omitempty"`  // logins
	Groups []string `json:"groups,omitempty"` // names; their members are covered too
}

// App types of SeedClient.AppType.
const (
	AppAPIServiceIntegration = "api_service_integration"
	AppService               = "service"
)

// LoadSeed decodes a seed strictly: unknown fields are errors.
func LoadSeed(r io.Reader) (Seed, error) {
	var seed Seed
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&seed); err != nil {
		return Seed{}, fmt.Errorf("oktasim: decode seed: %w", err)
	}
	return seed, nil
}

var validStatus = map[string]bool{StatusStaged: true, StatusProvisioned: true, StatusActive: true,
	StatusRecovery: true, StatusPasswordExpired: true, StatusLockedOut: true,
	StatusSuspended: true, StatusDeprovisioned: true}

// Load adds the seed to the org. Groups and apps are created before users refer to them.
func (s *Sim) Load(seed Seed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	o := s.org
	for _, sg := range seed.Groups {
		if sg.Name == "" {
			return fmt.Errorf("oktasim: group without name")
		}
		if sg.Name == "Everyone" {
			continue
		}
		typ := sg.Type
		if typ == "" {
			typ = GroupOkta
		}
		if typ != GroupOkta && typ != GroupApp && typ != GroupBuiltIn {
			return fmt.Errorf("oktasim: group %q: unknown type %q", sg.Name, typ)
		}
		o.addGroup(&group{id: orNew(sg.ID, "00g"), name: sg.Name, typ: typ, created: now,
			lastUpdated: now, lastMembershipUpdated: now})
	}
	for _, sa := range seed.Apps {
		a := &app{id: orNew(sa.ID, "0oa"), label: sa.Label, created: now, users: map[string]*assignment{}}
		o.apps[a.id] = a
		o.appOrder = append(o.appOrder, a.id)
	}
	for i, su := range seed.Users {
		if err := s.loadUser(su, now); err != nil {
			return fmt.Errorf("oktasim: user %d (%s): %w", i, su.Login, err)
		}
	}
	for _, sc := range seed.Clients {
		c, err := newClient(sc)
		if err != nil {
			return err
		}
		s.clients[c.id] = c
		if sc.AdminTargets != nil {
			s.adminTargets[c.id] = sc.AdminTargets
		} else {
			delete(s.adminTargets, c.id)
		}
	}
	for _, t := range seed.APITokens {
		s.apiKeys[t] = true
	}
	s.apiTokenOwner = seed.APITokenOwner
	if seed.RateLimits != nil {
		s.limiter = newLimiter(*seed.RateLimits)
	}
	return nil
}

func orNew(id, prefix string) string {
	if id != "" {
		return id
	}
	return newID(prefix)
}

func (s *Sim) loadUser(su SeedUser, now time.Time) error {
	o := s.org
	if su.Login == "" {
		return fmt.Errorf("login is required")
	}
	if o.findUser(su.Login) != nil && strings.Contains(su.Login, "@") {
		return fmt.Errorf("duplicate login")
	}
	u := &user{id: orNew(su.ID, "00u"), login: su.Login, email: su.Email, first: su.FirstName,
		last: su.LastName, status: su.Status, source: su.Source, hasPassword: su.Password,
		created: now, lastUpdated: now, statusChanged: now, sessions: su.Sessions,
		grants: su.Grants, blocked: su.BlockedUnknownDevices, groups: map[string]bool{}}
	if u.email == "" {
		u.email = u.login
	}
	if u.status == "" {
		u.status = StatusActive
	}
	if !validStatus[u.status] {
		return fmt.Errorf("unknown status %q", u.status)
	}
	if u.source == "" {
		u.source = ProviderOkta
	}
	if providerNames[u.source] == "" {
		return fmt.Errorf("unknown source %q: want OKTA, ACTIVE_DIRECTORY, LDAP, FEDERATION or SOCIAL", u.source)
	}
	if u.status != StatusStaged {
		u.activated = now
	} else {
		u.statusChanged = time.Time{}
	}
	if u.status == StatusActive || u.status == StatusPasswordExpired || u.status == StatusLockedOut {
		u.hasPassword = true
	}
	if u.hasPassword {
		u.passwordChanged = now
	}
	for _, ft := range su.Factors {
		u.factors = append(u.factors, newFactor(ft, now))
	}
	names := append([]string{"Everyone"}, su.Groups...)
	for _, name := range names {
		g := s.groupByName(name)
		if g == nil {
			return fmt.Errorf("unknown group %q", name)
		}
		g.members[u.id], u.groups[g.id] = true, true
	}
	o.users[u.id] = u
	o.byLogin[strings.ToLower(u.login)] = u.id
	o.userOrder = append(o.userOrder, u.id)
	for _, label := range su.Apps {
		a := s.appByLabel(label)
		if a == nil {
			return fmt.Errorf("unknown app %q", label)
		}
		a.users[u.id] = &assignment{userID: u.id, created: now, lastUpdated: now, since: now}
		a.order = append(a.order, u.id)
	}
	return nil
}

func (s *Sim) groupByName(name string) *group {
	for _, id := range s.org.grpOrder {
		if g := s.org.groups[id]; g.name == name {
			return g
		}
	}
	return nil
}

func (s *Sim) appByLabel(label string) *app {
	for _, id := range s.org.appOrder {
		if a := s.org.apps[id]; strings.EqualFold(a.label, label) {
			return a
		}
	}
	return nil
}
