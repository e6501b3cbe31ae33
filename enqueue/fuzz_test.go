package enqueue

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

// bodySeeds are bodies of every kind, for the fuzz tests.
var bodySeeds = []string{
	`{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},"ticket":{"system":"helpdesk","id":"REQ-1"},"idempotency_key":"REQ-1-suspend"}`,
	`{"action":"user.groups.update","user":"00u1234567890abcdefg","requester":{"id":"a","role":"r"},"groups":{"add":["Engineering"],"remove":["00g1"]},"run_at":"2030-01-02T15:04:05Z","bulk":true}`,
	`{"action":"user.apps.update","user":"a","requester":{"id":"a","role":"r"},"apps":{"assign":["Slack"]}}`,
	`{"action":"user.reset_password","user":"a","requester":{"id":"a","role":"r"},"options":{"send_email":false,"revoke_sessions":true},"result_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
	`{"action":"user.clear_sessions","user":"a","options":{"oauth_tokens":true},"run_at":null}`,
	`{"action":"user.suspend","v":1}`, `{"action":5}`, `{"action":"user.suspend","user":{}}`,
	`null`, `[]`, `{}`, `{"action":"user.suspend"}{}`, `{"action":"user.suspend","requested_at":"x"}`, "",
	// What the envelope's byte scan leaves to json.Unmarshal, or must read as it does.
	`{"Action":"user.suspend","user":"a","requester":{"id":"a","role":"r"}}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"},"V":1}`,
	`{"action":"user.suspend","action":"user.unsuspend","user":"a","requester":{"id":"a","role":"r"}}`,
	`{"\u0061ction":"user.suspend","user":"a","requester":{"id":"a","role":"r"}}`,
	`{"action":"user.\u0073uspend","user":"a","requester":{"id":"a","role":"r"},"dry_run":null,"run_at":null}`,
	"{\"action\":\"user.suspend\",\"user\":\"a\",\"requester\":{\"id\":\"a\",\"role\":\"r\"},\"dry_run\":true,\"run_\u212at\":1}",
	` { "action" : "user.suspend" , "user" : "a" , "requester" : { "id" : "a" , "role" : "r" } , "deadline" : "2030-01-02T15:04:05Z" } `,
	`{"action":"user.suspend","user":"a}","requester":{"id":"a","role":"r\"}"},"ticket":{"system":"x","id":"[{"}}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"},"dry_run":"true"}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"},"run_at":"2030-01-02T15:04:05+02:00","x":[1,{"a":[]}]}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"},"run_at":5}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"},}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"}`,
	`{"action":"user.suspend","user":"a","requester":{"id":"a","role":"r"}]`,
}

// FuzzDecodeActionBody: any body decodes to an action or to a
// *tasks.ValidationError naming a field; never a panic, never another
// error; and to the same as with the envelope read by json.Unmarshal.
func FuzzDecodeActionBody(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ab, err := decodeActionBody(body)
		ref, referr := decodeActionBodyUnmarshal(body)
		if fmt.Sprint(err) != fmt.Sprint(referr) || !reflect.DeepEqual(ab, ref) {
			t.Fatalf("body %q: decoded to %+v, %v; with json.Unmarshal %+v, %v", body, ab, err, ref, referr)
		}
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

// The envelope's byte scan takes the bodies producers send: were it to
// leave them to json.Unmarshal, the API would be as slow as before.
func TestScanEnvelopeTakesValidBodies(t *testing.T) {
	taken := 0
	for _, s := range bodySeeds {
		if _, err := decodeActionBodyUnmarshal([]byte(s)); err != nil || strings.Contains(s, `\u`) {
			continue // refused, or a key with an escape: json.Unmarshal's
		}
		env, ok := scanEnvelope([]byte(s))
		if !ok || env.Action == nil {
			t.Errorf("the scan leaves %s to json.Unmarshal", s)
		}
		taken++
	}
	if taken < 5 {
		t.Fatalf("only %d of the seeds decode", taken)
	}
}
