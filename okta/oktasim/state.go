package oktasim

import (
	"crypto/rand"
	"strings"
	"time"
)

// User statuses, as Okta spells them.
const (
	StatusStaged          = "STAGED"
	StatusProvisioned     = "PROVISIONED"
	StatusActive          = "ACTIVE"
	StatusRecovery        = "RECOVERY"
	StatusPasswordExpired = "PASSWORD_EXPIRED"
	StatusLockedOut       = "LOCKED_OUT"
	StatusSuspended       = "SUSPENDED"
	StatusDeprovisioned   = "DEPROVISIONED"
)

// Credential providers (credentials.provider.type), the seed's source.
const (
	ProviderOkta            = "OKTA"
	ProviderActiveDirectory = "ACTIVE_DIRECTORY"
	ProviderLDAP            = "LDAP"
	ProviderFederation      = "FEDERATION"
	ProviderSocial          = "SOCIAL"
)

// providerNames are the credentials.provider.name Okta shows per type: the
// directory or identity provider's name (the simulator's are fixed).
var providerNames = map[string]string{ProviderOkta: "OKTA", ProviderActiveDirectory: "corp.example.com",
	ProviderLDAP: "ldap.example.com", ProviderFederation: "FEDERATION", ProviderSocial: "Google"}

// Group types.
const (
	GroupOkta    = "OKTA_GROUP"
	GroupApp     = "APP_GROUP"
	GroupBuiltIn = "BUILT_IN"
)

type org struct {
	users     map[string]*user
	userOrder []string          // creation order; list endpoints page over it
	byLogin   map[string]string // lower-case login -> id
	groups    map[string]*group
	grpOrder  []string
	apps      map[string]*app
	appOrder  []string
	typeID    string
	schemaID  string
	realmID   string
}

type user struct {
	id, login, email, first, last string
	status                        string
	transitioning                 string // target of an async activate/deactivate
	transitionAt                  time.Time
	stick                         time.Duration // how long transitions stay visible
	source                        string        // credentials.provider.type
	hasPassword                   bool
	created, activated            time.Time
	statusChanged, lastLogin      time.Time
	lastUpdated, passwordChanged  time.Time
	factors                       []factor
	sessions, grants              int
	groups                        map[string]bool
	resetTokens                   int
	blocked                       bool // blocked from unknown devices
}

type factor struct {
	id, typ, provider string
	created           time.Time
}

type group struct {
	id, name, typ, description string
	created, lastUpdated       time.Time
	lastMembershipUpdated      time.Time
	members                    map[string]bool
}

type app struct {
	id, label string
	created   time.Time
	users     map[string]*assignment
	order     []string
}

type assignment struct {
	userID                      string
	created, lastUpdated, since time.Time
}

func newOrg(now time.Time) *org {
	o := &org{
		users: map[string]*user{}, byLogin: map[string]string{}, groups: map[string]*group{}, apps: map[string]*app{},
		typeID: newID("oty"), schemaID: newID("osc"), realmID: newID("guo"),
	}
	o.addGroup(&group{id: newID("00g"), name: "Everyone", typ: GroupBuiltIn,
		description: "All users in your organization", created: now, lastUpdated: now,
		lastMembershipUpdated: now})
	return o
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID returns a 20-character id with Okta's 3-character type prefix.
func newID(prefix string) string { return prefix + randomString(17) }

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return string(b)
}

func (o *org) addGroup(g *group) {
	if g.members == nil {
		g.members = map[string]bool{}
	}
	o.groups[g.id] = g
	o.grpOrder = append(o.grpOrder, g.id)
}

// findUser resolves an id, a login (case-insensitive) or an unambiguous login short name.
func (o *org) findUser(key string) *user {
	if u, ok := o.users[key]; ok {
		return u
	}
	if id, ok := o.byLogin[strings.ToLower(key)]; ok {
		return o.users[id]
	}
	if strings.Contains(key, "@") {
		return nil // a full login that is not known; no short-name match either
	}
	var short *user
	n := 0
	for _, id := range o.userOrder {
		u := o.users[id]
		if strings.EqualFold(u.login, key) {
			return u
		}
		if i := strings.IndexByte(u.login, '@'); i > 0 && strings.EqualFold(u.login[:i], key) {
			short, n = u, n+1
		}
	}
	if n == 1 {
		return short
	}
	return nil
}

func (o *org) deleteUser(u *user) {
	delete(o.users, u.id)
	delete(o.byLogin, strings.ToLower(u.login))
	for i, id := range o.userOrder {
		if id == u.id {
			o.userOrder = append(o.userOrder[:i:i], o.userOrder[i+1:]...)
			break
		}
	}
	for gid := range u.groups {
		delete(o.groups[gid].members, u.id)
	}
	for _, a := range o.apps {
		a.unassign(u.id)
	}
}

func (a *app) unassign(uid string) bool {
	if _, ok := a.users[uid]; !ok {
		return false
	}
	delete(a.users, uid)
	for i, id := range a.order {
		if id == uid {
			a.order = append(a.order[:i:i], a.order[i+1:]...)
			break
		}
	}
	return true
}

// settle finishes an async transition whose time has come.
func (u *user) settle(now time.Time) {
	if u.transitioning != "" && !now.Before(u.transitionAt) {
		u.status, u.transitioning = u.transitioning, ""
		u.statusChanged, u.lastUpdated = u.transitionAt, u.transitionAt
	}
}

// setStatus moves the user, through transitioningToStatus when the user is made sticky.
func (u *user) setStatus(status string, now time.Time, async bool) {
	u.lastUpdated = now
	if async && u.stick > 0 {
		u.transitioning, u.transitionAt = status, now.Add(u.stick)
		return
	}
	u.status, u.statusChanged = status, now
}
