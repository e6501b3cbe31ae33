package worker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// webhookSecretPrefix marks a Standard Webhooks secret: whsec_<base64>.
const webhookSecretPrefix = "whsec_"

// Secret lengths the Standard Webhooks spec asks for (24 to 64 bytes).
const (
	minWebhookSecret = 24
	maxWebhookSecret = 64
)

// WebhookSigner signs (and verifies) deliveries the Standard Webhooks way:
// v1,base64(HMAC-SHA256(secret, id.timestamp.body)).
type WebhookSigner struct{ key []byte }

// NewWebhookSigner takes a secret as whsec_<base64> (or the bare base64,
// as the reference libraries do). The error never repeats the secret.
func NewWebhookSigner(secret string) (*WebhookSigner, error) {
	raw := strings.TrimPrefix(secret, webhookSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("is not whsec_ followed by standard base64")
	}
	if len(key) < minWebhookSecret || len(key) > maxWebhookSecret {
		return nil, fmt.Errorf("decodes to %d bytes; want %d to %d (e.g. whsec_ + base64 of 32 random bytes: openssl rand -base64 32)",
			len(key), minWebhookSecret, maxWebhookSecret)
	}
	return &WebhookSigner{key: key}, nil
}

// String never shows the secret.
func (s *WebhookSigner) String() string { return "WebhookSigner{[redacted]}" }

// Sign returns the webhook-signature value of one delivery.
func (s *WebhookSigner) Sign(id string, at time.Time, body []byte) string {
	h := hmac.New(sha256.New, s.key)
	fmt.Fprintf(h, "%s.%d.", id, at.Unix())
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ErrWebhookSignature is wrapped by every verification failure.
var ErrWebhookSignature = errors.New("webhook signature rejected")

// Verify checks a delivery as a receiver does: the three headers, a
// timestamp within tolerance of now (replays), and one matching v1
// signature among the space-separated ones (secret rotation). It is what
// the README's receiver example does, and what the tests' receivers use.
func (s *WebhookSigner) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: %s, %s and %s are all required", ErrWebhookSignature, HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrWebhookSignature, HeaderWebhookTimestamp)
	}
	at := time.Unix(sec, 0)
	if tolerance > 0 && (now.Sub(at) > tolerance || at.Sub(now) > tolerance) {
		return fmt.Errorf("%w: timestamp %s is more than %s from now", ErrWebhookSignature, at.UTC().Format(time.RFC3339), tolerance)
	}
	want := s.Sign(id, at, body)
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrWebhookSignature)
}
