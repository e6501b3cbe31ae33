package worker_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// README:begin
// verifyOktaqCallback checks an oktaq callback the Standard Webhooks way.
// secret is the producer's whsec_... value; body is the raw request body.
func verifyOktaqCallback(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp too far from now (replay?)")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil // then dedupe on webhook-id, order by the body's sequence
		}
	}
	return errors.New("no valid signature")
}

// README:end

// The README's receiver example accepts the spec's test vector and
// refuses a changed body; the README holds it verbatim.
func TestREADMEReceiverExample(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTimestamp))
	h.Set("webhook-signature", vectorSignature)
	now := time.Unix(vectorTimestamp, 0)
	if err := verifyOktaqCallback(vectorSecret, h, []byte(vectorBody), now); err != nil {
		t.Errorf("spec vector refused: %v", err)
	}
	if err := verifyOktaqCallback(vectorSecret, h, []byte(vectorBody+" "), now); err == nil {
		t.Error("changed body accepted")
	}
	src, err := os.ReadFile("callbacks_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	code := s[strings.Index(s, "// README:begin\n")+len("// README:begin\n") : strings.Index(s, "\n// README:end")]
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), code) {
		t.Error("README.md does not hold the receiver example of callbacks_example_test.go verbatim")
	}
}
