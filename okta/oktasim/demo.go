package oktasim

// Demo credentials, for `oktaq dev` and the README.
const (
	DemoClientID     = "oktaq-demo"
	DemoClientSecret = "demo-secret"
	DemoAPIToken     = "demo-ssws-token"
)

// ManageScopes are every scope oktaq can use, granted to the demo client.
var ManageScopes = []string{"okta.users.read", "okta.users.manage", "okta.groups.read",
	"okta.groups.manage", "okta.apps.read", "okta.apps.manage"}

// DemoSeed is a small org with one user in every status and the traps a worker must survive:
// a login with '+', a group name that prefixes another, and an APP_GROUP.
func DemoSeed() Seed {
	u := func(login, first, last, status string, groups, factors []string) SeedUser {
		return SeedUser{Login: login, FirstName: first, LastName: last, Status: status,
			Groups: groups, Factors: factors}
	}
	eng := []string{"Engineering"}
	return Seed{
		Groups: []SeedGroup{{Name: "Engineering"}, {Name: "Engineering-Admins"},
			{Name: "Engineering-App", Type: GroupApp}, {Name: "Sales"}},
		Apps: []SeedApp{{Label: "Slack"}},
		Users: []SeedUser{
			u("alice@example.com", "Alice", "Anders", StatusActive, eng, []string{"sms", "token:software:totp"}),
			u("bob@example.com", "Bob", "Brown", StatusActive, []string{"Engineering", "Engineering-Admins"}, []string{"push"}),
			u("carol+ops@example.com", "Carol", "Chen", StatusActive, eng, nil),
			u("dave@example.com", "Dave", "Diaz", StatusSuspended, nil, []string{"sms"}),
			u("erin@example.com", "Erin", "Evans", StatusLockedOut, []string{"Sales"}, nil),
			u("frank@example.com", "Frank", "Fox", StatusPasswordExpired, nil, nil),
			u("grace@example.com", "Grace", "Green", StatusRecovery, nil, nil),
			u("heidi@example.com", "Heidi", "Hill", StatusProvisioned, nil, nil),
			u("ivan@example.com", "Ivan", "Ito", StatusStaged, nil, nil),
			u("judy@example.com", "Judy", "Jones", StatusDeprovisioned, nil, nil),
			{Login: "mallory@example.com", FirstName: "Mallory", LastName: "Moss", Status: StatusLockedOut,
				Source: "ACTIVE_DIRECTORY"},
			{Login: "niaj@example.com", FirstName: "Niaj", LastName: "Nash", Status: StatusActive,
				Apps: []string{"Slack"}, Sessions: 2, Groups: []string{"Sales"}},
		},
		Clients:   []SeedClient{{ClientID: DemoClientID, ClientSecret: DemoClientSecret, Scopes: ManageScopes}},
		APITokens: []string{DemoAPIToken},
	}
}
