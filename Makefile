# oktaq: build, run, test. `make run` builds bin/oktaq and starts the whole
# system with embedded defaults; `make test` runs every test against a
# private redis-server each test process starts (internal/redistest), never
# a Redis already running.
GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS        := ./...
TEST_TIMEOUT ?= 10m

.PHONY: build run test lint bench bench-ratelimit bench-containment chaos fmt fmt-check tidy-check promtool-test clean

build:
	$(GO) build -trimpath -o bin/oktaq ./cmd/oktaq

# run builds first, saying so (a cold build compiles the Okta SDK: minutes
# on a small machine), then starts the demo; ARGS go to `oktaq dev`, e.g.
# make run ARGS="--api-addr 127.0.0.1:8081".
run:
	@echo "make run: building bin/oktaq (the first build compiles the Okta SDK and can take several minutes)..."
	@$(GO) build -trimpath -o bin/oktaq ./cmd/oktaq
	@echo "make run: starting bin/oktaq dev $(ARGS)"
	@./bin/oktaq dev $(ARGS)

test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
	@if command -v promtool >/dev/null 2>&1; then $(MAKE) --no-print-directory promtool-test; \
	else echo "promtool not installed: alert rule tests skipped here (.ci/run installs it)"; fi

promtool-test:
	promtool check rules deploy/prometheus/rules.yml
	promtool test rules deploy/prometheus/rules_test.yml

lint:
	$(GO) vet $(PKGS)
	@test -x $(GOBIN)/staticcheck || $(GO) install $(STATICCHECK)
	$(GOBIN)/staticcheck $(PKGS)

# bench prints, same run each: the worker against bare asynq (no-op) and a
# fair baseline (bare asynq making the same Okta calls with net/http), the
# Redis round trips per action by purpose, and the API's accept rate
# against concurrent bare asynq enqueue; each against its goal.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./tasks/
	$(GO) test -run '^$$' -bench PostActions -benchtime 3x ./enqueue/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./worker/
	$(GO) test -run '^$$' -bench UserView -benchtime 40x ./okta/
	$(MAKE) --no-print-directory bench-ratelimit

bench-ratelimit:
	$(GO) run ./internal/cmd/benchratelimit

# Faults injected into separate processes (redis-server, oktaq sim, two
# workers, the API); prints a table. Needs redis-server. Not part of test.
chaos:
	$(GO) run ./internal/cmd/chaos $(CHAOS_FLAGS)

# Containment latency under the same bulk load: contain and offboard runs
# instead of single suspends (about 2 minutes; its own redis-server).
bench-containment:
	$(GO) run ./internal/cmd/benchratelimit --playbooks contain,offboard

fmt:
	gofmt -w $$(git ls-files '*.go')

# fmt-check and tidy-check fail on a diff; CI runs both.
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum || { echo "go mod tidy changed go.mod/go.sum: commit the tidy result"; exit 1; }

clean:
	rm -rf bin
