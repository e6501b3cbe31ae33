package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
)

func init() {
	register("sim", "serve the Okta simulator (for tests, demos and benchmarks)", runSim)
}

func runSim(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "sim", "[--addr HOST:PORT] [--seed FILE]")
	addr := fs.String("addr", "127.0.0.1:8180", "listen address")
	seedFile := fs.String("seed", "", "JSON seed of users, groups, apps, clients and API tokens (default: a small demo org)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	seed := oktasim.DemoSeed()
	if *seedFile != "" {
		f, err := os.Open(*seedFile)
		if err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
		seed, err = oktasim.LoadSeed(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--seed %s: %w", *seedFile, err)
		}
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))
	sim := oktasim.New(oktasim.Options{Logger: log})
	if err := sim.Load(seed); err != nil {
		return fmt.Errorf("--seed: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	sim.SetBaseURL("http://" + ln.Addr().String())
	fmt.Fprintf(env.stdout, "okta simulator at http://%s (%d users)\n", ln.Addr(), len(seed.Users))
	// Event hooks registered on the simulator get their events each second.
	go sim.RunEventDelivery(ctx, time.Second)
	return enqueue.ServeListener(ctx, ln, sim.Handler(), 5*time.Second)
}
