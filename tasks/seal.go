package tasks

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/box"
)

// Secrets that actions can hand back are sealed with NaCl's anonymous box
// (X25519 + XSalsa20-Poly1305, golang.org/x/crypto/nacl/box.SealAnonymous)
// to the producer's public key, given in Request.ResultKey. Only the holder
// of the private key can open it: Redis, logs, the dashboard and oktaq
// itself see ciphertext. We chose the anonymous box over age because it is
// one function in a dependency we already have, the producer side is a few
// lines in any language with libsodium (crypto_box_seal_open), and the
// payload is a single short secret.

// SealAlgorithm names the construction, for producers in other languages.
const SealAlgorithm = "nacl-box-seal-x25519"

// Sealed is a secret only the producer can open.
type Sealed struct {
	Algorithm  string `json:"alg"`
	Ciphertext string `json:"ciphertext"`
}

// Secret is what a Sealed holds.
type Secret struct {
	// Kind is temp_password, reset_password_url or activation.
	Kind  string `json:"kind"`
	Value string `json:"value"`
	// Token is the activation token, for activation.
	Token string `json:"token,omitempty"`
}

// String keeps a Secret out of logs by accident.
func (s Secret) String() string { return "Secret{" + s.Kind + ", redacted}" }

// Seal encrypts s to the base64 X25519 public key.
func Seal(publicKey string, s Secret) (*Sealed, error) {
	pk, err := decodeKey(publicKey)
	if err != nil {
		return nil, fmt.Errorf("result_key: %w", err)
	}
	msg, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	ct, err := box.SealAnonymous(nil, msg, pk, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	return &Sealed{Algorithm: SealAlgorithm, Ciphertext: base64.StdEncoding.EncodeToString(ct)}, nil
}

// Open decrypts a Sealed with the producer's key pair (both base64).
func Open(sealed *Sealed, publicKey, privateKey string) (Secret, error) {
	var s Secret
	if sealed == nil || sealed.Algorithm != SealAlgorithm {
		return s, errors.New("not a sealed secret of " + SealAlgorithm)
	}
	pk, err := decodeKey(publicKey)
	if err != nil {
		return s, fmt.Errorf("public key: %w", err)
	}
	sk, err := decodeKey(privateKey)
	if err != nil {
		return s, fmt.Errorf("private key: %w", err)
	}
	ct, err := base64.StdEncoding.DecodeString(sealed.Ciphertext)
	if err != nil {
		return s, fmt.Errorf("ciphertext is not base64: %w", err)
	}
	msg, ok := box.OpenAnonymous(nil, ct, pk, sk)
	if !ok {
		return s, errors.New("sealed secret does not open with this key pair")
	}
	return s, json.Unmarshal(msg, &s)
}

// GenerateResultKey makes a key pair for a producer: give the public key as
// result_key, keep the private key to open results.
func GenerateResultKey() (publicKey, privateKey string, err error) {
	pk, sk, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(pk[:]), base64.StdEncoding.EncodeToString(sk[:]), nil
}

func decodeKey(s string) (*[32]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("must be a base64 X25519 key (32 bytes)")
	}
	var k [32]byte
	copy(k[:], b)
	return &k, nil
}
