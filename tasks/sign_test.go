package tasks_test

import (
	"errors"
	"maps"
	"strings"
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

func TestSignVerify(t *testing.T) {
	kr, _ := tasks.ParseKeyring("new=0123456789abcdef-new,old=0123456789abcdef-old")
	old, _ := tasks.ParseKeyring("old=0123456789abcdef-old")
	other, _ := tasks.ParseKeyring("new=another-secret-entirely")
	typ, payload := "okta:user.suspend", []byte(`{"v":1,"user":"alice@example.com"}`)
	h := kr.Sign(typ, payload)
	if err := kr.Verify(typ, payload, h); err != nil {
		t.Fatalf("own signature rejected: %v", err)
	}
	if err := kr.Verify(typ, payload, old.Sign(typ, payload)); err != nil {
		t.Fatalf("rotation: a task signed with the old key must still verify: %v", err)
	}
	with := func(k, v string) map[string]string { m := maps.Clone(h); m[k] = v; return m }
	without := func(k string) map[string]string { m := maps.Clone(h); delete(m, k); return m }
	tests := []struct {
		name    string
		typ     string
		payload []byte
		headers map[string]string
		reason  string
	}{
		{"changed type", "okta:user.deactivate", payload, h, "does not match"},
		{"changed payload", typ, []byte(`{"v":1,"user":"bob@example.com"}`), h, "does not match"},
		{"byte moved from type to payload", "okta:user.suspen", append([]byte("d"), payload...), h, "does not match"},
		{"unknown kid", typ, payload, with(tasks.HeaderKeyID, "nope"), "unknown key id"},
		{"missing kid", typ, payload, without(tasks.HeaderKeyID), "no key id"},
		{"missing mac", typ, payload, without(tasks.HeaderMAC), "no MAC"},
		{"wrong mac", typ, payload, with(tasks.HeaderMAC, other.Sign(typ, payload)[tasks.HeaderMAC]), "does not match"},
		{"mac not base64", typ, payload, with(tasks.HeaderMAC, "!!"), "not base64url"},
		{"no headers", typ, payload, nil, "no key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kr.Verify(tt.typ, tt.payload, tt.headers)
			if !errors.Is(err, tasks.ErrSignature) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %v, want ErrSignature with %q", err, tt.reason)
			}
		})
	}
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
