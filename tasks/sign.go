package tasks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// Task headers that carry the signature (asynq v0.26 task headers).
const (
	HeaderKeyID = "oktaq-kid"
	HeaderMAC   = "oktaq-mac"
)

// MinKeyBytes is the shortest signing secret accepted.
const MinKeyBytes = 16

// ErrSignature is wrapped by every verification failure.
var ErrSignature = errors.New("task signature rejected")

// Keyring holds the HMAC keys tasks are signed and verified with. The first
// key signs; all verify, so keys rotate by adding the new one first,
// letting old tasks drain, then removing the old one.
type Keyring struct {
	signing string
	keys    map[string][]byte
	// macs holds, per key id, HMACs keyed and ready (hmac.New hashes the
	// key into two pads each time: half of a MAC's cost, 5 allocations,
	// on every enqueue and every attempt).
	macs map[string]*sync.Pool
}

// ParseKeyring parses "kid=secret,kid2=secret2". Secrets may contain '='
// but not ','.
func ParseKeyring(s string) (*Keyring, error) {
	kr := &Keyring{keys: map[string][]byte{}}
	for i, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		kid, secret, ok := strings.Cut(pair, "=")
		switch {
		case pair == "":
			return nil, fmt.Errorf("signing key %d is empty; want kid=secret", i+1)
		case !ok || kid == "":
			return nil, fmt.Errorf("signing key %d is not kid=secret", i+1)
		case !keyRe.MatchString(kid):
			return nil, fmt.Errorf("signing key id %q must be letters, digits, '.', '_', ':' or '-'", kid)
		case len(secret) < MinKeyBytes:
			return nil, fmt.Errorf("signing key %q is %d bytes; at least %d needed", kid, len(secret), MinKeyBytes)
		}
		if _, dup := kr.keys[kid]; dup {
			return nil, fmt.Errorf("signing key id %q is listed twice", kid)
		}
		if kr.signing == "" {
			kr.signing = kid
		}
		kr.keys[kid] = []byte(secret)
	}
	kr.macs = make(map[string]*sync.Pool, len(kr.keys))
	for kid, key := range kr.keys {
		kr.macs[kid] = &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
	}
	return kr, nil
}

// SigningKeyID is the id of the key that signs.
func (k *Keyring) SigningKeyID() string { return k.signing }

// String never shows the secrets.
func (k *Keyring) String() string {
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	return fmt.Sprintf("Keyring{signing: %s, keys: %d}", k.signing, len(ids))
}

// Envelope is what a signature covers: the task's id and queue as well as
// its type and payload, so that a signed payload copied under another id
// or into another queue (a replay) does not verify.
type Envelope struct {
	TaskID  string
	Queue   string
	Type    string
	Payload []byte
}

// Sign returns the headers that sign the envelope.
func (k *Keyring) Sign(e Envelope) map[string]string {
	return map[string]string{
		HeaderKeyID: k.signing,
		HeaderMAC:   base64.RawURLEncoding.EncodeToString(mac(k.macs[k.signing], e)),
	}
}

// Verify checks the headers against the envelope in constant time. Every
// failure wraps ErrSignature and says which check failed.
func (k *Keyring) Verify(e Envelope, headers map[string]string) error {
	kid, sig := headers[HeaderKeyID], headers[HeaderMAC]
	if kid == "" {
		return fmt.Errorf("%w: no key id", ErrSignature)
	}
	macs, ok := k.macs[kid]
	if !ok {
		return fmt.Errorf("%w: unknown key id %q", ErrSignature, kid)
	}
	if sig == "" {
		return fmt.Errorf("%w: no MAC", ErrSignature)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: MAC is not base64url", ErrSignature)
	}
	if !hmac.Equal(got, mac(macs, e)) {
		return fmt.Errorf("%w: MAC does not match the task id, queue, type and payload", ErrSignature)
	}
	return nil
}

// mac covers the task id, queue, type and payload, each but the last with
// a length prefix so that bytes cannot move from one to the next. The
// domain string is v2: a v1 MAC (type and payload only) never verifies,
// since it would let a payload be replayed under a new id.
func mac(macs *sync.Pool, e Envelope) []byte {
	h := macs.Get().(hash.Hash)
	defer macs.Put(h)
	h.Reset()
	// One buffer, no fmt: every task is verified (fmt was 3/4 of it).
	buf := make([]byte, 0, 128)
	buf = append(buf, "oktaq-task-v2\x00"...)
	for _, part := range [...]string{e.TaskID, e.Queue, e.Type} {
		buf = strconv.AppendInt(buf, int64(len(part)), 10)
		buf = append(buf, 0)
		buf = append(buf, part...)
		buf = append(buf, 0)
	}
	h.Write(buf)
	h.Write(e.Payload)
	return h.Sum(buf[:0])
}
