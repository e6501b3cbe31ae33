package tasks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

func TestParseKeyring(t *testing.T) {
	kr, err := tasks.ParseKeyring("k2=0123456789abcdef-new, k1=0123456789abcdef=old")
	if err != nil {
		t.Fatal(err)
	}
	if kr.SigningKeyID() != "k2" {
		t.Fatalf("first key must sign, got %s", kr.SigningKeyID())
	}
	if s := kr.String(); strings.Contains(s, "0123456789") {
		t.Fatalf("String leaks a secret: %s", s)
	}
	for _, bad := range []string{"", "k1", "=secretsecretsecret", "k1=short", "k1=0123456789abcdef,k1=0123456789abcdef", "k 1=0123456789abcdef", "k1=0123456789abcdef,,"} {
		if _, err := tasks.ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "0123456789") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

// The MAC of a fixed envelope is fixed: tasks signed by an earlier build
// (the queue may hold them through an upgrade) still verify.
func TestMACKnownAnswer(t *testing.T) {
	kr, _ := tasks.ParseKeyring("k1=known-answer-key-0123456789")
	h := kr.Sign(tasks.Envelope{TaskID: "4f0c1a9e-task", Queue: "critical", Type: "okta:user.suspend",
		Payload: []byte(`{"v":1,"user":"alice@example.com"}`)})
	if got, want := h[tasks.HeaderMAC], "VwwkNPueKu_hcE2L44Vta8YpQBD1gxOfFPBZIfTdfN0"; got != want {
		t.Fatalf("MAC %s, want %s", got, want)
	}
}

func TestSignVerify(t *testing.T) {
	kr, _ := tasks.ParseKeyring("new=0123456789abcdef-new,old=0123456789abcdef-old")
	old, _ := tasks.ParseKeyring("old=0123456789abcdef-old")
	other, _ := tasks.ParseKeyring("new=another-secret-entirely")
	payload := []byte(`{"v":1,"user":"alice@example.com"}`)
	env := tasks.Envelope{TaskID: "k-1234", Queue: "critical", Type: "okta:user.suspend", Payload: payload}
	h := kr.Sign(env)
	if err := kr.Verify(env, h); err != nil {
		t.Fatalf("own signature rejected: %v", err)
	}
	if err := kr.Verify(env, old.Sign(env)); err != nil {
		t.Fatalf("rotation: a task signed with the old key must still verify: %v", err)
	}
	with := func(k, v string) map[string]string { m := maps.Clone(h); m[k] = v; return m }
	without := func(k string) map[string]string { m := maps.Clone(h); delete(m, k); return m }
	change := func(f func(e *tasks.Envelope)) tasks.Envelope { e := env; f(&e); return e }
	tests := []struct {
		name    string
		env     tasks.Envelope
		headers map[string]string
		reason  string
	}{
		{"changed type", change(func(e *tasks.Envelope) { e.Type = "okta:user.deactivate" }), h, "does not match"},
		{"changed payload", change(func(e *tasks.Envelope) { e.Payload = []byte(`{"v":1,"user":"bob@example.com"}`) }), h, "does not match"},
		{"replayed under another id", change(func(e *tasks.Envelope) { e.TaskID = "k-5678" }), h, "does not match"},
		{"moved to another queue", change(func(e *tasks.Envelope) { e.Queue = "low" }), h, "does not match"},
		{"byte moved from type to payload", change(func(e *tasks.Envelope) {
			e.Type, e.Payload = "okta:user.suspen", append([]byte("d"), payload...)
		}), h, "does not match"},
		{"byte moved from id to queue", change(func(e *tasks.Envelope) { e.TaskID, e.Queue = "k-123", "4critical" }), h, "does not match"},
		{"unknown kid", env, with(tasks.HeaderKeyID, "nope"), "unknown key id"},
		{"missing kid", env, without(tasks.HeaderKeyID), "no key id"},
		{"missing mac", env, without(tasks.HeaderMAC), "no MAC"},
		{"wrong mac", env, with(tasks.HeaderMAC, other.Sign(env)[tasks.HeaderMAC]), "does not match"},
		{"v1 mac (type and payload only)", env, with(tasks.HeaderMAC, v1MAC("0123456789abcdef-new", env)), "does not match"},
		{"mac not base64", env, with(tasks.HeaderMAC, "!!"), "not base64url"},
		{"no headers", env, nil, "no key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kr.Verify(tt.env, tt.headers)
			if !errors.Is(err, tasks.ErrSignature) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %v, want ErrSignature with %q", err, tt.reason)
			}
		})
	}
}

// v1MAC is the wave-1 signature (type and payload, no task id): it must
// not verify any more.
func v1MAC(secret string, e tasks.Envelope) string {
	h := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(h, "oktaq-task-v1\x00%d\x00%s\x00", len(e.Type), e.Type)
	h.Write(e.Payload)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func TestSealOpen(t *testing.T) {
	pub, priv, err := tasks.GenerateResultKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := tasks.Seal(pub, tasks.Secret{Kind: "temp_password", Value: "Tmp-Pass-123"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Ciphertext, "Tmp-Pass") {
		t.Fatal("ciphertext holds the secret")
	}
	got, err := tasks.Open(s, pub, priv)
	if err != nil || got.Value != "Tmp-Pass-123" {
		t.Fatalf("Open = %v, %v", got, err)
	}
	if str := got.String(); strings.Contains(str, "Tmp-Pass") {
		t.Fatalf("Secret.String leaks: %s", str)
	}
	pub2, priv2, _ := tasks.GenerateResultKey()
	if _, err := tasks.Open(s, pub2, priv2); err == nil {
		t.Fatal("opened with another key pair")
	}
}

// The keyed HMACs are reused: concurrent signs and verifies under two
// keys must each see only their own envelope.
func TestKeyringReusesMACsSafely(t *testing.T) {
	signer, err := tasks.ParseKeyring("new=" + strings.Repeat("n", 32) + ",old=" + strings.Repeat("o", 32))
	if err != nil {
		t.Fatal(err)
	}
	old, err := tasks.ParseKeyring("old=" + strings.Repeat("o", 32))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				e := tasks.Envelope{TaskID: fmt.Sprintf("t-%d-%d", g, i), Queue: "default", Type: "okta:user.suspend", Payload: []byte(`{"v":1}`)}
				for _, kr := range []*tasks.Keyring{signer, old} {
					h := kr.Sign(e)
					if err := signer.Verify(e, h); err != nil {
						t.Errorf("%s: %v", e.TaskID, err)
						return
					}
					other := e
					other.TaskID += "x"
					if err := signer.Verify(other, h); !errors.Is(err, tasks.ErrSignature) {
						t.Errorf("%s: a MAC verified for another task id", e.TaskID)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
