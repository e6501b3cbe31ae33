package tasks

import (
	"encoding/json"
	"fmt"
	"strings"
)

// A run's snapshot is what undo restores: groups re-added, apps assigned
// again. It lives in Redis beside the run's state, which the API and the
// worker write; anyone who can write Redis could add an admin group to a
// snapshot and have undo grant it. So the worker seals the snapshot with
// the signing keyring when it takes it, and undo verifies the seal before
// it builds any step. The seal covers the run id, connection, producer
// and the snapshot: moved to another run, or changed, it does not verify.

// snapshotType is the MAC's type field: no task has it, so a snapshot's
// MAC is never a task's signature.
const snapshotType = "oktaq:playbook.snapshot"

func snapshotEnvelope(run *Run) (Envelope, error) {
	payload, err := json.Marshal(struct {
		Connection string    `json:"connection"`
		Producer   string    `json:"producer"`
		Snapshot   *Snapshot `json:"snapshot"`
	}{run.Connection, run.Producer, run.Snapshot})
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{TaskID: run.ID, Queue: "snapshot", Type: snapshotType, Payload: payload}, nil
}

// SealSnapshot sets run.SnapshotMAC ("kid:mac") over the run's snapshot.
func (k *Keyring) SealSnapshot(run *Run) error {
	env, err := snapshotEnvelope(run)
	if err != nil {
		return fmt.Errorf("seal snapshot of run %s: %w", run.ID, err)
	}
	h := k.Sign(env)
	run.SnapshotMAC = h[HeaderKeyID] + ":" + h[HeaderMAC]
	return nil
}

// VerifySnapshot checks run.SnapshotMAC; every failure wraps ErrSignature.
func (k *Keyring) VerifySnapshot(run *Run) error {
	if run.Snapshot == nil {
		return fmt.Errorf("%w: run %s has no snapshot", ErrSignature, run.ID)
	}
	kid, sig, ok := strings.Cut(run.SnapshotMAC, ":")
	if !ok {
		return fmt.Errorf("%w: run %s's snapshot is not sealed", ErrSignature, run.ID)
	}
	env, err := snapshotEnvelope(run)
	if err != nil {
		return fmt.Errorf("%w: run %s's snapshot cannot be encoded: %w", ErrSignature, run.ID, err)
	}
	if err := k.Verify(env, map[string]string{HeaderKeyID: kid, HeaderMAC: sig}); err != nil {
		return fmt.Errorf("run %s's snapshot: %w", run.ID, err)
	}
	return nil
}
