package enqueue

import (
	"errors"
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

// FuzzDecodeActionBody: any body decodes to an action or to a
// *tasks.ValidationError naming a field; never a panic, never another error.
func FuzzDecodeActionBody(f *testing.F) {
	for _, s := range []string{
		`{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},"ticket":{"system":"helpdesk","id":"REQ-1"},"idempotency_key":"REQ-1-suspend"}`,
		`{"action":"user.groups.update","user":"00u1234567890abcdefg","requester":{"id":"a","role":"r"},"groups":{"add":["Engineering"],"remove":["00g1"]},"run_at":"2030-01-02T15:04:05Z","bulk":true}`,
		`{"action":"user.apps.update","user":"a","requester":{"id":"a","role":"r"},"apps":{"assign":["Slack"]}}`,
		`{"action":"user.reset_password","user":"a","requester":{"id":"a","role":"r"},"options":{"send_email":false,"revoke_sessions":true},"result_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`{"action":"user.clear_sessions","user":"a","options":{"oauth_tokens":true},"run_at":null}`,
		`{"action":"user.suspend","v":1}`, `{"action":5}`, `{"action":"user.suspend","user":{}}`,
		`null`, `[]`, `{}`, `{"action":"user.suspend"}{}`, `{"action":"user.suspend","requested_at":"x"}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ab, err := decodeActionBody(body)
		var ve *tasks.ValidationError
		switch {
		case err == nil:
			if ab.args == nil || ab.args.Base().Version != tasks.PayloadVersion || ab.args.Base().Producer != "" {
				t.Fatalf("decoded %q to %+v", body, ab.args)
			}
			// What decodes must survive the round trip through a payload.
			p, err := tasks.Marshal(ab.args)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tasks.Decode(ab.args.Action(), p); err != nil {
				t.Fatalf("re-decode of %s: %v", p, err)
			}
		case !errors.As(err, &ve) || len(ve.Fields) == 0 || ve.Fields[0].Field == "":
			t.Fatalf("body %q: error %v is not a field error", body, err)
		}
	})
}
