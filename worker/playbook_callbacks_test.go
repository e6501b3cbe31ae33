package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// TestPlaybookCallbacks: each step of a run is called back as the
// ordinary action it is (the run's producer is the step's), and the run
// itself as playbook.<state> with the run's view once it ends: succeeded
// for contain, partial for a playbook whose step fails.
func TestPlaybookCallbacks(t *testing.T) {
	pbs, err := tasks.ParsePlaybooks("test.yaml", []byte(`
playbooks:
  - name: leaver
    steps:
      - action: user.suspend
      - action: user.apps.update
        apps: {unassign: [Zoom]}
        on_failure: continue
      - action: user.clear_sessions
`))
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t, 1)
	h := newHarness(t, withUsers(pbUser("cont@example.com", "ACTIVE"), pbUser("leav@example.com", "ACTIVE")),
		withWorker(func(o *worker.Options) {
			o.PlaybookPoll = 50 * time.Millisecond
			o.PollInterval = 20 * time.Millisecond
			o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk-a": endpoint(t, rcv.srv.URL)})
		}))
	c := enqueue.NewFromRedisClient(h.redis.Client, enqueue.Options{Producer: "helpdesk-a", Producers: testProducers,
		Keyring: h.keyring, Connections: map[string]*tasks.Policy{"default": &h.conn.Policy}, Playbooks: pbs})
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	contain, _, err := c.StartPlaybook(ctx, "contain", enqueue.RunRequest{User: "cont@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	leaver, _, err := c.StartPlaybook(ctx, "leaver", enqueue.RunRequest{User: "leav@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	contain, leaver = waitRun(t, c, contain.ID), waitRun(t, c, leaver.ID)
	want := map[string]string{contain.ID: "playbook.succeeded", leaver.ID: "playbook.partial"}
	for _, run := range []*tasks.Run{contain, leaver} {
		for _, st := range run.Steps {
			if st.State == tasks.StepDone {
				want[st.ID] = "action." + string(st.Outcome)
			}
		}
	}
	if want[leaver.Steps[1].ID] != "action.failed" || len(want) != 7 {
		t.Fatalf("runs ended %s %s; want a failed step in leaver and 5 steps done: %v", stepsOf(contain), stepsOf(leaver), want)
	}
	got := map[string]delivery{}
	for len(got) < len(want) {
		d := rcv.next(ctx)
		var ids struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(d.Raw, &ids)
		if _, dup := got[ids.Data.ID]; dup {
			t.Errorf("second delivery for %s: %s", ids.Data.ID, d.Body.Type)
		}
		got[ids.Data.ID] = d
	}
	for id, typ := range want {
		if got[id].Body.Type != typ {
			t.Errorf("%s: delivered %q, want %q", id, got[id].Body.Type, typ)
		}
	}
	var view struct {
		Data struct {
			tasks.Run
			Links map[string]string `json:"links"`
		} `json:"data"`
	}
	if err := json.Unmarshal(got[leaver.ID].Raw, &view); err != nil {
		t.Fatal(err)
	}
	if v := view.Data; v.State != tasks.RunPartial || stepsOf(&v.Run) != stepsOf(leaver) || len(v.Failed) != 1 ||
		v.Producer != "helpdesk-a" || v.Links["self"] != "/v1/playbooks/runs/"+leaver.ID || v.Links["undo"] == "" {
		t.Errorf("playbook.partial data: state %s steps %s failed %v links %v", v.State, stepsOf(&v.Run), v.Failed, v.Links)
	}
}
