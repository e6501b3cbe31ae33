package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/oktaq/oktaq/internal/apitest"
	"github.com/oktaq/oktaq/tasks"
)

// TestDevConfirmsActions: in `oktaq dev` the simulator's event hook is
// registered on the demo API, so an action ends confirmed by its event.
func TestDevConfirmsActions(t *testing.T) {
	t.Setenv("OKTAQ_REDIS_URL", "")
	ports := freePorts(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDev(ctx, devFlags{apiAddr: ports[0], adminAddr: ports[1], simAddr: ports[2], redisAddr: ports[3]}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = d.wait(); d.close() })
	api := "http://" + ports[0]
	id := apitest.PostSuspend(t, api, devToken, "alice@example.com")
	apitest.WaitFor(t, "the action confirmed by its Okta event", func() bool {
		req, _ := http.NewRequest(http.MethodGet, api+"/v1/actions/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+devToken)
		var v struct {
			Result *tasks.Result `json:"result"`
		}
		apitest.DoJSON(t, req, &v)
		return v.Result != nil && v.Result.Confirmation != nil && v.Result.Confirmation.State == tasks.ConfirmationConfirmed
	})
}
