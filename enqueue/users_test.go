package enqueue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

const (
	viewClientID = "0oaviewtestclient001"
	viewSecret   = "cs-view-secret-value-0123456789"
)

// userAPI is the API with a real okta.UserReader on the simulator.
type userAPI struct {
	*testAPI
	sim *oktasim.Sim
}

func startUserAPI(t *testing.T) *userAPI {
	t.Helper()
	sim := oktasim.New(oktasim.Options{})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	scopes := []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage, tasks.ScopeGroupsManage, tasks.ScopeAppsManage}
	if err := sim.Load(oktasim.Seed{
		Groups:  []oktasim.SeedGroup{{Name: "Engineering"}, {Name: "AD-Finance", Type: oktasim.GroupApp}},
		Apps:    []oktasim.SeedApp{{Label: "Slack"}, {Label: "Zoom"}},
		Clients: []oktasim.SeedClient{{ClientID: viewClientID, ClientSecret: viewSecret, Scopes: scopes}},
		Users: []oktasim.SeedUser{
			{Login: "alice@example.com", FirstName: "Alice", LastName: "Ng", Groups: []string{"Engineering", "AD-Finance"},
				Factors: []string{"sms", "push"}, Apps: []string{"Slack"}, Password: true},
			{Login: "dave@example.com", Status: oktasim.StatusLockedOut, Source: oktasim.ProviderActiveDirectory},
		},
	}); err != nil {
		t.Fatal(err)
	}
	db := redistest.New(t)
	conn := &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: scopes}, BaseURL: sim.URL(),
		Credentials: okta.Credentials{ClientID: viewClientID, ClientSecret: viewSecret}}
	lim, err := ratelimit.New(db.Client, ratelimit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: db.Client, Limiter: lim, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	opts := testOptions(t)
	opts.Users = okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{Redis: db.Client})
	c := New(db.Opt, opts)
	t.Cleanup(func() { c.Close() })
	return &userAPI{testAPI: newTestAPI(t, c, db), sim: sim}
}

func (u *userAPI) oktaCalls() int {
	n := 0
	for _, r := range u.sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			n++
		}
	}
	return n
}

func actionsOf(t *testing.T, m map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := m["actions"].([]any)
	for _, x := range list {
		a := x.(map[string]any)
		out[a["action"].(string)] = a
	}
	return out
}

func TestUserViewAnswersTheUserAndTheRolesActions(t *testing.T) {
	api := startUserAPI(t)
	ans := api.get(t, "/v1/users/alice@example.com?role=it-admin", tokenA)
	if ans.status != 200 {
		t.Fatalf("status %d: %s", ans.status, ans.body)
	}
	v := ans.json(t)
	if v["login"] != "alice@example.com" || v["status"] != "ACTIVE" || !strings.HasPrefix(v["id"].(string), "00u") {
		t.Fatalf("user: %s", ans.body)
	}
	if p := v["provider"].(map[string]any); p["type"] != "OKTA" {
		t.Errorf("provider %v", p)
	}
	if prof := v["profile"].(map[string]any); prof["firstName"] != "Alice" || prof["lastName"] != "Ng" {
		t.Errorf("profile %v", prof)
	}
	if g := v["groups"].([]any); len(g) != 3 { // Everyone, Engineering, AD-Finance
		t.Errorf("groups %v", g)
	}
	if f := v["factors"].([]any); len(f) != 2 {
		t.Errorf("factors %v", f)
	}
	if a := v["apps"].([]any); len(a) != 1 || a[0].(map[string]any)["label"] != "Slack" {
		t.Errorf("apps %v", a)
	}
	if v["cached"] != false || v["fetched_at"] == "" {
		t.Errorf("cached %v fetched_at %v", v["cached"], v["fetched_at"])
	}
	acts := actionsOf(t, v)
	if len(acts) != len(tasks.Actions()) {
		t.Fatalf("%d actions, want %d", len(acts), len(tasks.Actions()))
	}
	for name, want := range map[string]struct {
		available bool
		code      string
	}{
		"user.suspend":       {true, ""},
		"user.unsuspend":     {false, "already_done"},
		"user.activate":      {false, "already_done"},
		"user.reset_mfa":     {true, ""},
		"user.unlock":        {false, "already_done"},      // ACTIVE, no device block
		"user.apps.update":   {false, "scope_not_enabled"}, // the API's policy enables no apps scope
		"user.groups.update": {true, ""},
	} {
		a := acts[name]
		if a["available"] != want.available || (a["code"] == nil) != (want.code == "") || (want.code != "" && a["code"] != want.code) {
			t.Errorf("%s: %v, want available=%v code=%q", name, a, want.available, want.code)
		}
	}
	// The directory-mastered locked-out user: unlock and password in AD.
	dave := actionsOf(t, api.get(t, "/v1/users/dave@example.com?role=it-admin", tokenA).json(t))
	if a := dave["user.reset_password"]; a["code"] != "directory_password" || !strings.Contains(a["reason"].(string), "Active Directory") {
		t.Errorf("dave reset_password: %v", a)
	}
	if a := dave["user.unlock"]; a["available"] != false || !strings.Contains(a["reason"].(string), "unlock in Active Directory") {
		t.Errorf("dave unlock: %v", a)
	}
	if a := dave["user.unsuspend"]; a["available"] != false {
		t.Errorf("dave unsuspend: %v", a)
	}
}

// A side panel opened by several agents costs Okta one set of calls; the
// cache serves every role, and fresh=true reads again.
func TestUserViewCacheServesEveryRoleAndFreshReadsAgain(t *testing.T) {
	api := startUserAPI(t)
	first := api.get(t, "/v1/users/alice@example.com?role=it-admin", tokenA).json(t)
	cold := api.oktaCalls()
	if cold != 5 { // user, groups, factors, blocks, apps
		t.Fatalf("a cold view made %d Okta calls, want 5", cold)
	}
	second := api.get(t, "/v1/users/alice@example.com?role=helpdesk", tokenA)
	v := second.json(t)
	if api.oktaCalls() != cold {
		t.Fatalf("a cached view called Okta: %d calls", api.oktaCalls()-cold)
	}
	if v["cached"] != true || v["fetched_at"] != first["fetched_at"] {
		t.Errorf("cached %v fetched_at %v, first %v", v["cached"], v["fetched_at"], first["fetched_at"])
	}
	acts := actionsOf(t, v)
	if a := acts["user.suspend"]; a["available"] != false || a["code"] != "role_not_allowed" || !strings.Contains(a["reason"].(string), "helpdesk") {
		t.Errorf("helpdesk suspend: %v", a)
	}
	if a := acts["user.reset_password"]; a["available"] != true {
		t.Errorf("helpdesk reset_password: %v", a)
	}
	// By id: the same cached entry.
	api.get(t, "/v1/users/"+first["id"].(string)+"?role=helpdesk", tokenA)
	if api.oktaCalls() != cold {
		t.Fatalf("the view by id did not use the entry cached by login")
	}
	fresh := api.get(t, "/v1/users/alice@example.com?role=it-admin&fresh=true", tokenA).json(t)
	if api.oktaCalls() != 2*cold || fresh["cached"] != false {
		t.Fatalf("fresh=true: %d calls in all, cached %v", api.oktaCalls(), fresh["cached"])
	}
	if api.get(t, "/v1/users/alice@example.com?fresh=maybe", tokenA).json(t)["errors"].([]any)[0].(map[string]any)["field"] != "fresh" {
		t.Error("fresh=maybe not refused naming fresh")
	}
}

func TestUserViewRefusals(t *testing.T) {
	api := startUserAPI(t)
	for _, tc := range []struct {
		path, token string
		status      int
		code, field string
	}{
		{"/v1/users/alice", tokenA, 400, "invalid_request", "ref"},
		{"/v1/users/me", tokenA, 400, "invalid_request", "ref"},
		{"/v1/users/alice@example.com?role=bad%20role", tokenA, 400, "invalid_request", "role"},
		{"/v1/users/alice@example.com?connection=nope", tokenA, 400, "invalid_request", "connection"},
		{"/v1/users/nobody@example.com?role=it-admin", tokenA, 404, "not_found", ""},
		{"/v1/users/00u00000000000000000", tokenA, 404, "not_found", ""},
		{"/v1/users/alice@example.com?role=it-admin", tokenB, 403, "producer_role_not_allowed", ""},
		{"/v1/users/alice@example.com", "", 401, "unauthorized", ""},
	} {
		ans := api.get(t, tc.path, tc.token)
		if ans.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.path, ans.status, tc.status, ans.body)
			continue
		}
		p := ans.json(t)
		if p["code"] != tc.code {
			t.Errorf("%s: code %v, want %s", tc.path, p["code"], tc.code)
		}
		if tc.field != "" {
			errs, _ := p["errors"].([]any)
			if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
				t.Errorf("%s: errors %v, want field %s", tc.path, errs, tc.field)
			}
		}
	}
}

// Okta's 429 is not passed through: the answer is oktaq's problem with
// Retry-After from the limiter's Until; a failing Okta is a 503.
func TestUserViewRateLimitedAndUnavailable(t *testing.T) {
	api := startUserAPI(t)
	api.sim.Drain("user-get")
	ans := api.get(t, "/v1/users/alice@example.com?role=it-admin", tokenA)
	if ans.status != 429 || ans.json(t)["code"] != "rate_limited" {
		t.Fatalf("drained bucket: %d %s", ans.status, ans.body)
	}
	if s, err := strconv.Atoi(ans.header.Get("Retry-After")); err != nil || s < 1 || s > 61 {
		t.Errorf("Retry-After %q", ans.header.Get("Retry-After"))
	}
	if strings.Contains(string(ans.body), "E0000047") {
		t.Errorf("Okta's error passed through: %s", ans.body)
	}
	api2 := startUserAPI(t)
	api2.sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 503, Match: "/api/v1/users"})
	ans = api2.get(t, "/v1/users/alice@example.com?role=it-admin", tokenA)
	if ans.status != 503 || ans.json(t)["code"] != "unavailable" || ans.header.Get("Retry-After") == "" {
		t.Fatalf("failing Okta: %d %v %s", ans.status, ans.header, ans.body)
	}
}

// The Go client's User: the same checks as the API, as its producer.
func TestClientUser(t *testing.T) {
	api := startUserAPI(t)
	v, err := api.c.User(context.Background(), "alice@example.com", UserQuery{Role: "helpdesk"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Login != "alice@example.com" || v.Role != "helpdesk" || len(v.Actions) != len(tasks.Actions()) {
		t.Fatalf("view %+v", v)
	}
	noRole, err := api.c.User(context.Background(), "alice@example.com", UserQuery{})
	if err != nil || noRole.Actions != nil {
		t.Fatalf("without role: actions %v err %v", noRole.Actions, err)
	}
	var ve *tasks.ValidationError
	if _, err := api.c.User(context.Background(), "alice", UserQuery{}); !errors.As(err, &ve) || ve.Fields[0].Field != "ref" {
		t.Fatalf("short name: %v", err)
	}
	plain := New(api.db.Opt, testOptions(t))
	defer plain.Close()
	if _, err := plain.User(context.Background(), "alice@example.com", UserQuery{}); !errors.Is(err, ErrNoUserReader) {
		t.Fatalf("no reader: %v", err)
	}
	if ans := newTestAPI(t, plain, api.db).get(t, "/v1/users/alice@example.com", tokenA); ans.status != 501 {
		t.Fatalf("API without a reader: %d %s", ans.status, ans.body)
	}
}
