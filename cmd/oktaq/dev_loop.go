package main

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// The demo closes the loop on its own: the simulator's event hook points
// at the demo API, so results become confirmed a second after they finish.

const (
	devHookSecret       = "oktaq-dev-event-hook-secret"
	devHookClientID     = "oktaq-dev-hooks"
	devHookClientSecret = "oktaq-dev-hooks-secret"
)

// devSeed is the demo org with a client that may manage event hooks.
func devSeed() oktasim.Seed {
	seed := oktasim.DemoSeed()
	seed.Clients = append(seed.Clients, oktasim.SeedClient{ClientID: devHookClientID, ClientSecret: devHookClientSecret,
		Scopes: append(slices.Clone(oktasim.ManageScopes), okta.ScopeEventHooks)})
	return seed
}

// startLoop delivers the simulator's events each second and registers
// the hook as `oktaq hooks register` would. A failure is logged: the demo
// runs on, with actions left pending confirmation.
func (d *dev) startLoop(ctx context.Context, sim *oktasim.Sim, apiAddr string, limiter *ratelimit.Limiter, log *slog.Logger) {
	d.serve(ctx, func(ctx context.Context) error { sim.RunEventDelivery(ctx, time.Second); return nil })
	conn := &okta.Connection{Policy: tasks.Policy{Name: tasks.DefaultConnection, Scopes: append(slices.Clone(oktasim.ManageScopes), okta.ScopeEventHooks)},
		BaseURL: d.simURL, Credentials: okta.Credentials{ClientID: devHookClientID, ClientSecret: devHookClientSecret}}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: d.rdb, Logger: log, Limiter: limiter})
	if err != nil {
		log.Warn("event hook not registered: confirmations stay pending", "error", err)
		return
	}
	defer exec.Close()
	hook, err := exec.RegisterEventHook(ctx, "oktaq-dev", "http://"+apiAddr+"/v1/okta/events/default", devHookSecret)
	if err != nil {
		log.Warn("event hook not registered: confirmations stay pending", "error", err)
		return
	}
	log.Info("event hook registered: results are confirmed by the simulator's events", "hook", hook.ID, "url", hook.URL)
}
