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
	fs := newFlags(env, "sim", "[--addr HOST:PORT] [--seed FILE] [--faults SPEC [--faults-seed N]]")
	addr := fs.String("addr", "127.0.0.1:8180", "listen address")
	seedFile := fs.String("seed", "", "JSON seed of users, groups, apps, clients and API tokens (default: a small demo org)")
	faultSpec := fs.String("faults", "", "faults to inject, as shares of API calls: "+
		"5xx=0.25,drop_before=0.05,drop_after=0.15,latency=50ms-200ms,token_5xx=0 (PUT /__sim/faults changes them)")
	faultSeed := fs.Uint64("faults-seed", 0, "seed of the fault draws, for repeatable runs (0: random)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	faults, err := oktasim.ParseFaults(*faultSpec)
	if err != nil {
		return fmt.Errorf("--faults: %w", err)
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
	sim := oktasim.New(oktasim.Options{Logger: log, FaultSeed: *faultSeed})
	if err := sim.Load(seed); err != nil {
		return fmt.Errorf("--seed: %w", err)
	}
	sim.SetFaults(faults)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	sim.SetBaseURL("http://" + ln.Addr().String())
	fmt.Fprintf(env.stdout, "okta simulator at http://%s (%d users)\n", ln.Addr(), len(seed.Users))
	if *faultSpec != "" {
		fmt.Fprintf(env.stdout, "injecting faults: %s\n", faults)
	}
	// Event hooks registered on the simulator get their events each second.
	go sim.RunEventDelivery(ctx, time.Second)
	return enqueue.ServeListener(ctx, ln, sim.Handler(), 5*time.Second)
}
