package enqueue

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"
)

// last_error is what the worker said, without the text asynq's SkipRetry
// adds ("...: skip retry for the task"), which means nothing to an agent.
func TestLastErrorHasNoAsynqSuffix(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("%w: %w", errors.New("okta refused (E0000001): Cannot suspend"), asynq.SkipRetry),
		fmt.Errorf("%w: %w", errors.New("okta refused (E0000001): Cannot suspend"), asynq.RevokeTask),
		errors.New("okta refused (E0000001): Cannot suspend"),
	} {
		info := (&Client{}).infoFrom(&asynq.TaskInfo{Type: "okta:user.suspend", LastErr: err.Error()}, nil)
		if info.LastError != "okta refused (E0000001): Cannot suspend" {
			t.Errorf("last_error %q", info.LastError)
		}
	}
}
