package main

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// TestDemoOrgTryTable: what the README's demo-org table says each try
// does, it does, through the demo's worker and simulator.
func TestDemoOrgTryTable(t *testing.T) {
	t.Setenv("OKTAQ_REDIS_URL", "")
	ports := freePorts(t, 4)
	d, err := startDev(t.Context(), devFlags{apiAddr: ports[0], adminAddr: ports[1], simAddr: ports[2], redisAddr: ports[3]},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	keyring, _ := tasks.ParseKeyring(devSigningKeys)
	policy, _ := tasks.ParseRoles(devRoles)
	producerRoles, _ := tasks.ParseProducerRules(devProducerRoles)
	c := enqueue.NewFromRedisClient(d.rdb, enqueue.Options{Keyring: keyring, Producer: devProducer,
		Producers: tasks.Producers{Roles: producerRoles}, Connections: map[string]*tasks.Policy{
			"default": {Name: "default", Scopes: oktasim.ManageScopes, Roles: policy}}})
	req := func(user string) tasks.Request {
		return tasks.Request{User: user, Requester: tasks.Requester{ID: "t", Role: "it-admin"}}
	}
	pub, _, _ := tasks.GenerateResultKey()
	withKey := req("bob@example.com")
	withKey.ResultKey = pub
	tests := []struct {
		name string
		a    tasks.Args
		want tasks.Outcome
	}{
		{"alice reset mfa", &tasks.ResetMFA{Request: req("alice@example.com")}, tasks.OutcomeSucceeded},
		{"alice suspend", &tasks.Suspend{Request: req("alice@example.com")}, tasks.OutcomeSucceeded},
		{"alice suspend again", &tasks.Suspend{Request: req("alice@example.com")}, tasks.OutcomeNoOp},
		{"bob remove admins", &tasks.UpdateGroups{Request: req("bob@example.com"), Groups: tasks.GroupChanges{Remove: []string{"Engineering-Admins"}}}, tasks.OutcomeSucceeded},
		{"bob sessions", &tasks.ClearSessions{Request: req("bob@example.com")}, tasks.OutcomeSucceeded},
		{"bob expire temp", &tasks.ExpirePassword{Request: withKey, Options: tasks.ExpirePasswordOptions{TempPassword: true}}, tasks.OutcomeSucceeded},
		{"carol reset", &tasks.ResetPassword{Request: req("carol+ops@example.com")}, tasks.OutcomeSucceeded},
		{"dave suspend", &tasks.Suspend{Request: req("dave@example.com")}, tasks.OutcomeNoOp},
		{"dave unsuspend", &tasks.Unsuspend{Request: req("dave@example.com")}, tasks.OutcomeSucceeded},
		{"erin unlock", &tasks.Unlock{Request: req("erin@example.com")}, tasks.OutcomeSucceeded},
		{"frank reset", &tasks.ResetPassword{Request: req("frank@example.com")}, tasks.OutcomeSucceeded},
		{"grace reset", &tasks.ResetPassword{Request: req("grace@example.com")}, tasks.OutcomeSucceeded},
		{"heidi reactivate", &tasks.Reactivate{Request: req("heidi@example.com")}, tasks.OutcomeSucceeded},
		{"ivan activate", &tasks.Activate{Request: req("ivan@example.com")}, tasks.OutcomeSucceeded},
		{"judy deactivate", &tasks.Deactivate{Request: req("judy@example.com")}, tasks.OutcomeNoOp},
		{"judy suspend", &tasks.Suspend{Request: req("judy@example.com")}, tasks.OutcomeFailed},
		{"mallory unlock", &tasks.Unlock{Request: req("mallory@example.com")}, tasks.OutcomeFailed},
		{"niaj unassign", &tasks.UpdateApps{Request: req("niaj@example.com"), Apps: tasks.AppChanges{Unassign: []string{"Slack"}}}, tasks.OutcomeSucceeded},
		{"niaj sessions", &tasks.ClearSessions{Request: req("niaj@example.com"), Options: tasks.ClearSessionsOptions{}}, tasks.OutcomeSucceeded},
		{"app group", &tasks.UpdateGroups{Request: req("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{"Engineering-App"}}}, tasks.OutcomeFailed},
	}
	for _, tt := range tests {
		info, err := c.Enqueue(t.Context(), tt.a)
		if err == nil {
			info, err = c.Wait(t.Context(), info.ID)
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if info.Result == nil || info.Result.Outcome != tt.want {
			t.Errorf("%s: %+v, want %s", tt.name, info.Result, tt.want)
		}
	}
	var refused *tasks.NotAllowedError
	help := &tasks.Suspend{Request: req("bob@example.com")}
	help.Requester.Role = "helpdesk"
	if _, err := c.Enqueue(t.Context(), help); err == nil || !errorsAs(err, &refused) {
		t.Errorf("helpdesk suspend: %v", err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
