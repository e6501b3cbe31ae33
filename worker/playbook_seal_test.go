package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// A snapshot changed in Redis after the run took it (here: an admin group
// the user never had added, so that undo would grant it) is refused by
// undo, which sends nothing; the untouched snapshot verifies.
func TestUndoRefusesTamperedSnapshot(t *testing.T) {
	h, c := pbHarness(t, []oktasim.SeedUser{pbUser("seal@example.com", "ACTIVE")})
	ctx := context.Background()
	run, _, err := c.StartPlaybook(ctx, "contain", enqueue.RunRequest{User: "seal@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	run = waitRun(t, c, run.ID)
	if run.SnapshotMAC == "" {
		t.Fatal("the run's snapshot is not sealed")
	}
	key := tasks.RunKey(run.ID)
	orig, err := h.redis.Client.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tampered := *run
	snap := *run.Snapshot
	snap.Groups = append(snap.Groups, tasks.GroupRef{ID: h.sim.GroupID("Engineering-Admins"), Name: "Engineering-Admins", Type: "OKTA_GROUP"})
	tampered.Snapshot = &snap
	b, _ := json.Marshal(&tampered)
	if err := h.redis.Client.Set(ctx, key, b, 0).Err(); err != nil {
		t.Fatal(err)
	}
	writesBefore := len(writes(h.sim))
	_, _, err = c.Undo(ctx, "helpdesk-a", run.ID, agent(), tasks.Ticket{})
	if !errors.Is(err, enqueue.ErrSnapshotNotVerified) || !errors.Is(err, tasks.ErrSignature) {
		t.Fatalf("undo of a tampered snapshot: %v", err)
	}
	if n, _ := h.redis.Client.Exists(ctx, tasks.RunKey(tasks.UndoID(run.ID))).Result(); n != 0 {
		t.Fatal("an undo run was recorded")
	}
	if got := len(writes(h.sim)); got != writesBefore {
		t.Fatalf("Okta got %d writes", got-writesBefore)
	}
	// The MAC covers the run id too: the same snapshot and MAC under
	// another run do not verify.
	moved := *run
	moved.ID = "pb-other"
	if err := h.keyring.VerifySnapshot(&moved); !errors.Is(err, tasks.ErrSignature) {
		t.Fatalf("a snapshot moved to another run verified: %v", err)
	}
	if err := h.redis.Client.Set(ctx, key, orig, 0).Err(); err != nil {
		t.Fatal(err)
	}
	undo, _, err := c.Undo(ctx, "helpdesk-a", run.ID, agent(), tasks.Ticket{})
	if err != nil {
		t.Fatal(err)
	}
	if undo = waitRun(t, c, undo.ID); undo.State != tasks.RunSucceeded {
		t.Fatalf("undo %s %v", undo.State, undo.Failed)
	}
}
