package oktasim_test

import (
	"context"
	"testing"

	"github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// lifecycleCall runs one lifecycle action through the SDK.
type lifecycleCall func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error)

var lifecycleCalls = map[string]lifecycleCall{
	"activate": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		_, r, err := c.UserAPI.ActivateUser(ctx, id).SendEmail(false).Execute()
		return r, err
	},
	"reactivate": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		_, r, err := c.UserAPI.ReactivateUser(ctx, id).SendEmail(false).Execute()
		return r, err
	},
	"deactivate": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		return c.UserAPI.DeactivateUser(ctx, id).SendEmail(false).Execute()
	},
	"suspend": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		return c.UserAPI.SuspendUser(ctx, id).Execute()
	},
	"unsuspend": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		return c.UserAPI.UnsuspendUser(ctx, id).Execute()
	},
	"unlock": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		return c.UserAPI.UnlockUser(ctx, id).Execute()
	},
	"reset_password": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		_, r, err := c.UserAPI.GenerateResetPasswordToken(ctx, id).SendEmail(false).RevokeSessions(true).Execute()
		return r, err
	},
	"expire_password": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		_, r, err := c.UserAPI.ExpirePassword(ctx, id).Execute()
		return r, err
	},
	"expire_password_with_temp_password": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		_, r, err := c.UserAPI.ExpirePasswordAndGetTemporaryPassword(ctx, id).Execute()
		return r, err
	},
	"reset_factors": func(ctx context.Context, c *okta.APIClient, id string) (*okta.APIResponse, error) {
		return c.UserAPI.ResetFactors(ctx, id).Execute()
	},
}

type outcome struct {
	status int
	code   string
	after  string // status afterwards ("" = unchanged)
}

var (
	okTo = func(s string) outcome { return outcome{200, "", s} }
	e38  = outcome{403, "E0000038", ""}
	e01  = outcome{400, "E0000001", ""}
	e32  = outcome{403, "E0000032", ""}
)

// expected[action][status]; the seed users in DemoSeed cover every status
// (all with factors so reset_factors is decided by status alone).
var expected = map[string]map[string]outcome{
	"activate": {"STAGED": okTo("PROVISIONED"), "PROVISIONED": e38, "ACTIVE": {403, "E0000016", ""},
		"RECOVERY": e38, "PASSWORD_EXPIRED": e38, "LOCKED_OUT": e38, "SUSPENDED": e38, "DEPROVISIONED": okTo("PROVISIONED")},
	"reactivate": {"STAGED": e38, "PROVISIONED": okTo("PROVISIONED"), "ACTIVE": e38, "RECOVERY": okTo("RECOVERY"),
		"PASSWORD_EXPIRED": e38, "LOCKED_OUT": e38, "SUSPENDED": e38, "DEPROVISIONED": e38},
	"deactivate": {"STAGED": okTo("DEPROVISIONED"), "PROVISIONED": okTo("DEPROVISIONED"), "ACTIVE": okTo("DEPROVISIONED"),
		"RECOVERY": okTo("DEPROVISIONED"), "PASSWORD_EXPIRED": okTo("DEPROVISIONED"), "LOCKED_OUT": okTo("DEPROVISIONED"),
		"SUSPENDED": okTo("DEPROVISIONED"), "DEPROVISIONED": e01},
	"suspend": {"STAGED": e01, "PROVISIONED": e01, "ACTIVE": okTo("SUSPENDED"), "RECOVERY": e01,
		"PASSWORD_EXPIRED": e01, "LOCKED_OUT": e01, "SUSPENDED": e01, "DEPROVISIONED": e01},
	"unsuspend": {"STAGED": e01, "PROVISIONED": e01, "ACTIVE": e01, "RECOVERY": e01,
		"PASSWORD_EXPIRED": e01, "LOCKED_OUT": e01, "SUSPENDED": okTo("ACTIVE"), "DEPROVISIONED": e01},
	"unlock": {"STAGED": e32, "PROVISIONED": e32, "ACTIVE": e32, "RECOVERY": e32,
		"PASSWORD_EXPIRED": e32, "LOCKED_OUT": okTo("ACTIVE"), "SUSPENDED": e32, "DEPROVISIONED": e32},
	"reset_password": {"STAGED": e38, "PROVISIONED": e38, "ACTIVE": okTo("RECOVERY"), "RECOVERY": okTo("RECOVERY"),
		"PASSWORD_EXPIRED": okTo("RECOVERY"), "LOCKED_OUT": okTo("RECOVERY"), "SUSPENDED": e38, "DEPROVISIONED": e38},
	"expire_password": {"STAGED": e38, "PROVISIONED": e38, "ACTIVE": okTo("PASSWORD_EXPIRED"),
		"RECOVERY": okTo("PASSWORD_EXPIRED"), "PASSWORD_EXPIRED": okTo("PASSWORD_EXPIRED"),
		"LOCKED_OUT": okTo("PASSWORD_EXPIRED"), "SUSPENDED": e38, "DEPROVISIONED": e38},
	"reset_factors": {"STAGED": e38, "PROVISIONED": okTo("PROVISIONED"), "ACTIVE": okTo("ACTIVE"),
		"RECOVERY": okTo("RECOVERY"), "PASSWORD_EXPIRED": okTo("PASSWORD_EXPIRED"), "LOCKED_OUT": okTo("LOCKED_OUT"),
		"SUSPENDED": okTo("SUSPENDED"), "DEPROVISIONED": e38},
}

func init() {
	expected["expire_password_with_temp_password"] = expected["expire_password"]
}

var allStatuses = []string{"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED",
	"LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"}

func TestLifecycleFromEveryStatus(t *testing.T) {
	for action, byStatus := range expected {
		for _, from := range allStatuses {
			want := byStatus[from]
			t.Run(action+"/"+from, func(t *testing.T) {
				t.Parallel()
				sim := oktasim.New(oktasim.Options{})
				err := sim.Load(oktasim.Seed{APITokens: []string{ssws}, Users: []oktasim.SeedUser{
					{ID: "00utestuser000000001", Login: "u@example.com", Status: from, Factors: []string{"sms"}}}})
				if err != nil {
					t.Fatal(err)
				}
				srv := sim.Start()
				defer srv.Close()
				resp, err := lifecycleCalls[action](context.Background(), sswsClient(t, srv), "u@example.com")
				st, code := errCode(t, resp, err)
				if st != want.status || code != want.code {
					t.Fatalf("got %d %q, want %d %q", st, code, want.status, want.code)
				}
				after := want.after
				if after == "" {
					after = from
				}
				if u, _ := sim.User("u@example.com"); u.Status != after {
					t.Fatalf("status after: %s, want %s", u.Status, after)
				}
			})
		}
	}
}

func TestUnlockRefusedForDirectoryUser(t *testing.T) {
	_, srv := start(t, oktasim.Options{})
	resp, err := sswsClient(t, srv).UserAPI.UnlockUser(context.Background(), "mallory@example.com").Execute()
	if st, code := errCode(t, resp, err); st != 403 || code != "E0000032" {
		t.Fatalf("%d %s", st, code)
	}
}

func TestLifecycleBodiesAndEmails(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	tok, _, err := c.UserAPI.ActivateUser(ctx, "ivan@example.com").SendEmail(false).Execute()
	if err != nil || tok.GetActivationToken() == "" || tok.GetActivationUrl() == "" {
		t.Fatalf("activate sendEmail=false: %v %+v", err, tok)
	}
	for i := 0; i < 2; i++ {
		if _, _, err := c.UserAPI.GenerateResetPasswordToken(ctx, "alice@example.com").SendEmail(true).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, e := range sim.Emails() {
		if e.Kind == "reset_password" && e.UserID == uid(t, sim, "alice@example.com") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("every reset_password with sendEmail=true sends an email; got %d", n)
	}
	rp, _, err := c.UserAPI.GenerateResetPasswordToken(ctx, "bob@example.com").SendEmail(false).Execute()
	if err != nil || rp.GetResetPasswordUrl() == "" {
		t.Fatalf("reset url: %v", err)
	}
	t1, _, err := c.UserAPI.ExpirePasswordAndGetTemporaryPassword(ctx, "carol+ops@example.com").Execute()
	if err != nil {
		t.Fatal(err)
	}
	t2, _, err := c.UserAPI.ExpirePasswordAndGetTemporaryPassword(ctx, "carol+ops@example.com").Execute()
	if err != nil || t1.GetTempPassword() == t2.GetTempPassword() {
		t.Fatalf("temp password must change on every call: %v", err)
	}
	u, _, err := c.UserAPI.ExpirePassword(ctx, "niaj@example.com").Execute()
	if err != nil || u.GetStatus() != "PASSWORD_EXPIRED" {
		t.Fatalf("expire_password returns the user: %v", err)
	}
	resp := do(t, srv, "POST", "/api/v1/users/bob@example.com/lifecycle/reset_password")
	if resp.StatusCode != 400 {
		t.Fatalf("reset_password without sendEmail: %d", resp.StatusCode)
	}
	if _, err := c.UserAPI.DeactivateUser(ctx, "dave@example.com").SendEmail(true).Execute(); err != nil {
		t.Fatal(err)
	}
	last := sim.Emails()[len(sim.Emails())-1]
	if last.Kind != "deactivation_admin" {
		t.Fatalf("deactivate sendEmail=true: %+v", last)
	}
}
