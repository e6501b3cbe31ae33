package worker_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/worker"
)

// The Standard Webhooks spec's test vector (libraries/go/webhook_test.go
// of github.com/standard-webhooks/standard-webhooks).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestWebhookSignerSpecVector(t *testing.T) {
	for _, secret := range []string{vectorSecret, vectorSecret[len("whsec_"):]} {
		s, err := worker.NewWebhookSigner(secret)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)); got != vectorSignature {
			t.Errorf("secret %q: signature %s, want %s", secret[:6], got, vectorSignature)
		}
	}
}

func TestWebhookSignerVerify(t *testing.T) {
	s, err := worker.NewWebhookSigner(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(vectorTimestamp, 0)
	const tolerance = 5 * time.Minute
	headers := func(mod func(h http.Header)) http.Header {
		h := http.Header{}
		h.Set("webhook-id", vectorID)
		h.Set("webhook-timestamp", strconv.Itoa(vectorTimestamp))
		h.Set("webhook-signature", vectorSignature)
		if mod != nil {
			mod(h)
		}
		return h
	}
	cases := []struct {
		name string
		h    http.Header
		body string
		now  time.Time
		ok   bool
	}{
		{"valid", headers(nil), vectorBody, now, true},
		{"missing id", headers(func(h http.Header) { h.Del("webhook-id") }), vectorBody, now, false},
		{"missing timestamp", headers(func(h http.Header) { h.Del("webhook-timestamp") }), vectorBody, now, false},
		{"missing signature", headers(func(h http.Header) { h.Del("webhook-signature") }), vectorBody, now, false},
		{"wrong signature", headers(func(h http.Header) {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
		}), vectorBody, now, false},
		{"body changed", headers(nil), `{"test": 2432232315}`, now, false},
		{"too old", headers(nil), vectorBody, now.Add(tolerance + time.Second), false},
		{"too new", headers(nil), vectorBody, now.Add(-tolerance - time.Second), false},
		{"one of several signatures", headers(func(h http.Header) {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,x "+vectorSignature)
		}), vectorBody, now, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Verify(c.h, []byte(c.body), c.now, tolerance)
			if c.ok != (err == nil) {
				t.Fatalf("Verify = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, worker.ErrWebhookSignature) {
				t.Errorf("error %v does not wrap ErrWebhookSignature", err)
			}
		})
	}
}

func TestWebhookSignerRefusesBadSecrets(t *testing.T) {
	for _, secret := range []string{"whsec_not base64!", "whsec_c2hvcnQ=", ""} {
		_, err := worker.NewWebhookSigner(secret)
		if err == nil {
			t.Errorf("secret %q accepted", secret)
			continue
		}
		if secret != "" && len(secret) > 8 && strings.Contains(err.Error(), secret[6:]) {
			t.Errorf("error %q repeats the secret", err)
		}
	}
}
