package config_test

import (
	"maps"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// TestDefaultsAreTheLibraries: each envconfig default equals the constant
// the library uses when the option is left unset, so that running the
// binary with no configuration and using the packages with zero options
// behave alike.
func TestDefaultsAreTheLibraries(t *testing.T) {
	defaults := map[string]string{}
	for _, v := range config.Vars() {
		defaults[v.Name] = v.Default
	}
	tests := []struct {
		name string
		want any
	}{
		{"OKTAQ_CONCURRENCY", worker.DefaultConcurrency},
		{"OKTAQ_SHUTDOWN_TIMEOUT", worker.DefaultShutdownTimeout},
		{"OKTAQ_MAX_ATTEMPTS", tasks.DefaultMaxAttempts},
		{"OKTAQ_TASK_DEADLINE", tasks.DefaultTaskDeadline},
		{"OKTAQ_RESULT_RETENTION", tasks.DefaultResultRetention},
		{"OKTAQ_RATE_RESERVE", ratelimit.DefaultReserve},
		{"OKTAQ_QUEUES", worker.DefaultQueues()},
		{"OKTAQ_CONFIRM_TIMEOUT", worker.DefaultConfirmTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, ok := defaults[tt.name]
			if !ok || raw == "" {
				t.Fatalf("%s has no default", tt.name)
			}
			var got any
			var err error
			switch tt.want.(type) {
			case int:
				got, err = strconv.Atoi(raw)
			case float64:
				got, err = strconv.ParseFloat(raw, 64)
			case time.Duration:
				got, err = time.ParseDuration(raw)
			case map[string]int:
				var q map[string]int
				q, err = config.ParseQueues(raw)
				if err == nil && !maps.Equal(q, tt.want.(map[string]int)) {
					t.Fatalf("%s default %q, library default %v", tt.name, raw, tt.want)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s default %q (%v), library default %v", tt.name, raw, err, tt.want)
			}
		})
	}
}

// Issue 14 item 7: the in-flight cap is derived from the concurrency when
// unset (8 under a concurrency of 10 rescheduled most first calls), and
// the library's default is the one derived from the worker's default.
func TestInFlightCapDerivedFromConcurrency(t *testing.T) {
	if ratelimit.DefaultMaxInFlight != ratelimit.MaxInFlightFor(worker.DefaultConcurrency) {
		t.Errorf("ratelimit.DefaultMaxInFlight %d, derived from worker.DefaultConcurrency %d", ratelimit.DefaultMaxInFlight,
			ratelimit.MaxInFlightFor(worker.DefaultConcurrency))
	}
	for _, tt := range []struct{ concurrency, inFlight, want string }{
		{"", "", strconv.Itoa(ratelimit.MaxInFlightFor(worker.DefaultConcurrency))},
		{"16", "", "32"},
		{"16", "5", "5"},
	} {
		t.Setenv("OKTAQ_SIGNING_KEYS", "k1=0123456789abcdef0123")
		setOrUnset(t, "OKTAQ_CONCURRENCY", tt.concurrency)
		setOrUnset(t, "OKTAQ_OKTA_MAX_IN_FLIGHT", tt.inFlight)
		cfg, err := config.Load()
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(cfg.Env.OktaMaxInFlight); got != tt.want || cfg.Env.OktaMaxInFlight < cfg.Env.Concurrency && tt.inFlight == "" {
			t.Errorf("concurrency %q, in-flight %q: got %s, want %s", tt.concurrency, tt.inFlight, got, tt.want)
		}
	}
}

func setOrUnset(t *testing.T, name, v string) {
	t.Setenv(name, v) // restored when the test ends
	if v == "" {
		_ = os.Unsetenv(name)
	}
}
