package tasks_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func base(user string) tasks.Request {
	return tasks.Request{Version: 1, User: user, RequestedAt: now,
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"},
		Ticket:    tasks.Ticket{System: "helpdesk", ID: "REQ-1"}}
}

func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	return out
}

func TestValidate(t *testing.T) {
	pub, _, err := tasks.GenerateResultKey()
	if err != nil {
		t.Fatal(err)
	}
	withKey := base("alice@example.com")
	withKey.ResultKey = pub
	tests := []struct {
		name   string
		args   tasks.Args
		fields []string // bad fields expected, in order; nil = valid
	}{
		{"activate", &tasks.Activate{Request: base("alice@example.com")}, nil},
		{"activate without email needs result key", &tasks.Activate{Request: base("alice@example.com"), Options: tasks.SendEmailOption{SendEmail: tasks.Bool(false)}}, []string{"result_key"}},
		{"activate without email, key given", &tasks.Activate{Request: withKey, Options: tasks.SendEmailOption{SendEmail: tasks.Bool(false)}}, nil},
		{"reactivate", &tasks.Reactivate{Request: base("00u1abcdefghijklmnoP")}, nil},
		{"deactivate", &tasks.Deactivate{Request: base("alice@example.com"), Options: tasks.DeactivateOptions{NotifyAdmins: true}}, nil},
		{"suspend", &tasks.Suspend{Request: base("alice+it@example.com")}, nil},
		{"unsuspend", &tasks.Unsuspend{Request: base("alice@example.com")}, nil},
		// Okta resolves "me" to the token's admin and a short name to the
		// login it starts: neither names the user meant.
		{"user me", &tasks.Suspend{Request: base("me")}, []string{"user"}},
		{"user dot", &tasks.Suspend{Request: base(".")}, []string{"user"}},
		{"user dot dot", &tasks.Suspend{Request: base("..")}, []string{"user"}},
		{"user short name", &tasks.Suspend{Request: base("alice")}, []string{"user"}},
		{"user at without domain", &tasks.Suspend{Request: base("alice@")}, []string{"user"}},
		{"user at without local part", &tasks.Suspend{Request: base("@example.com")}, []string{"user"}},
		{"user id one short", &tasks.Suspend{Request: base("00u1abcdefghijklmno")}, []string{"user"}},
		{"user id of a group", &tasks.Suspend{Request: base("00g1abcdefghijklmnoP")}, []string{"user"}},
		{"login of a non-email org", &tasks.Suspend{Request: base("alice@corp")}, nil},
		{"unlock", &tasks.Unlock{Request: base("alice@example.com")}, nil},
		{"reset password emails by default", &tasks.ResetPassword{Request: base("alice@example.com"), Options: tasks.ResetPasswordOptions{RevokeSessions: true}}, nil},
		{"reset password link needs key", &tasks.ResetPassword{Request: base("alice@example.com"), Options: tasks.ResetPasswordOptions{SendEmail: tasks.Bool(false)}}, []string{"result_key"}},
		{"expire password", &tasks.ExpirePassword{Request: base("alice@example.com")}, nil},
		{"temp password needs key", &tasks.ExpirePassword{Request: base("alice@example.com"), Options: tasks.ExpirePasswordOptions{TempPassword: true}}, []string{"result_key"}},
		{"revoke sessions only with temp password", &tasks.ExpirePassword{Request: base("alice@example.com"), Options: tasks.ExpirePasswordOptions{RevokeSessions: true}}, []string{"options.revoke_sessions"}},
		{"reset mfa", &tasks.ResetMFA{Request: base("alice@example.com"), Options: tasks.ResetMFAOptions{RemoveRecoveryEnrollment: true}}, nil},
		{"clear sessions", &tasks.ClearSessions{Request: base("alice@example.com"), Options: tasks.ClearSessionsOptions{OAuthTokens: tasks.Bool(true)}}, nil},
		{"groups", &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{"Engineering", "00g1abcdefghijklmnoP"}, Remove: []string{"Sales"}}}, nil},
		{"groups empty", &tasks.UpdateGroups{Request: base("alice@example.com")}, []string{"groups"}},
		{"group in add and remove", &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{"Sales"}, Remove: []string{"sales"}}}, []string{"groups.remove[0]"}},
		{"too many groups", &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: names(101, "g")}}, []string{"groups"}},
		{"100 groups is fine", &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: names(60, "g"), Remove: names(40, "r")}}, nil},
		{"empty group name", &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{""}}}, []string{"groups.add[0]"}},
		{"control char in group", &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{"a\x00b"}}}, []string{"groups.add[0]"}},
		{"apps", &tasks.UpdateApps{Request: base("alice@example.com"), Apps: tasks.AppChanges{Assign: []string{"Slack"}, Unassign: []string{"0oa1abcdefghijklmnoP"}}}, nil},
		{"apps empty", &tasks.UpdateApps{Request: base("alice@example.com")}, []string{"apps"}},
		{"empty user", &tasks.Suspend{Request: base("")}, []string{"user"}},
		{"login with space", &tasks.Suspend{Request: base("alice smith@example.com")}, []string{"user"}},
		{"login with control char", &tasks.Suspend{Request: base("alice\n@example.com")}, []string{"user"}},
		{"login with slash", &tasks.Suspend{Request: base("dept/alice")}, []string{"user"}},
		{"login too long", &tasks.Suspend{Request: base(strings.Repeat("a", 300))}, []string{"user"}},
		{"bad connection", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.Connection = "Prod Org"; return r }()}, []string{"connection"}},
		{"missing requester", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.Requester = tasks.Requester{}; return r }()}, []string{"requester.id", "requester.role"}},
		{"bad role", &tasks.Suspend{Request: func() tasks.Request {
			r := base("a@example.com")
			r.Requester.Role = "it admin"
			return r
		}()}, []string{"requester.role"}},
		{"ticket id too long", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.Ticket.ID = strings.Repeat("1", 200); return r }()}, []string{"ticket.id"}},
		{"bad idempotency key", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.IdempotencyKey = "a b"; return r }()}, []string{"idempotency_key"}},
		{"requested in the future", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.RequestedAt = now.Add(time.Hour); return r }()}, []string{"requested_at"}},
		{"bad result key", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.ResultKey = "abc"; return r }()}, []string{"result_key"}},
		{"wrong version", &tasks.Suspend{Request: func() tasks.Request { r := base("a@example.com"); r.Version = 2; return r }()}, []string{"v"}},
	}
	covered := map[tasks.Action]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			covered[tt.args.Action()] = true
			err := tasks.Validate(tt.args, now)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
				if f.Reason == "" {
					t.Errorf("field %s has no reason", f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("bad fields = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	for _, a := range tasks.Actions() {
		if !covered[a] {
			t.Errorf("no validation case for %s", a)
		}
	}
}

func TestActionTable(t *testing.T) {
	if got := len(tasks.Actions()); got != 12 {
		t.Fatalf("%d actions, want the 12 of DESIGN.md", got)
	}
	for _, a := range tasks.Actions() {
		args, ok := tasks.New(a)
		if !ok || args.Action() != a {
			t.Errorf("New(%s) = %v", a, args)
		}
		if back, ok := tasks.ActionFromType(a.TypeName()); !ok || back != a {
			t.Errorf("ActionFromType(%s) = %s", a.TypeName(), back)
		}
		scopes := a.Scopes()
		if len(scopes) == 0 || scopes[0] != tasks.ScopeUsersRead {
			t.Errorf("%s scopes %v do not start with okta.users.read", a, scopes)
		}
	}
	queues := map[tasks.Action]string{tasks.ActionSuspend: "critical", tasks.ActionDeactivate: "critical",
		tasks.ActionClearSessions: "critical", tasks.ActionResetMFA: "critical", tasks.ActionUnlock: "default"}
	for a, q := range queues {
		if got := a.Queue(false); got != q {
			t.Errorf("%s queue = %s, want %s", a, got, q)
		}
	}
	if tasks.ActionUnlock.Queue(true) != "low" || tasks.ActionSuspend.Queue(true) != "critical" {
		t.Error("bulk goes to low, but a security action stays critical")
	}
	if tasks.ActionUpdateGroups.Scopes()[1] != tasks.ScopeGroupsManage || tasks.ActionUpdateApps.Scopes()[1] != tasks.ScopeAppsManage {
		t.Error("group and app updates need their manage scopes")
	}
	if _, ok := tasks.ActionFromType("okta:user.delete"); ok {
		t.Error("user.delete is not an action")
	}
}
