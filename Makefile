# oktaq: build, run, test. `make run` starts the whole system with embedded
# defaults; `make test` runs every test against a real Redis when one answers.
GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS        := ./...

.PHONY: build run test lint bench bench-ratelimit chaos fmt promtool-test clean

build:
	$(GO) build -trimpath -o bin/oktaq ./cmd/oktaq

run:
	$(GO) run ./cmd/oktaq dev

test:
	$(GO) test -race -count=1 $(PKGS)
	@if command -v promtool >/dev/null 2>&1; then $(MAKE) --no-print-directory promtool-test; \
	else echo "promtool not installed: alert rule tests skipped here (.ci/run installs it)"; fi

promtool-test:
	promtool check rules deploy/prometheus/rules.yml
	promtool test rules deploy/prometheus/rules_test.yml

lint:
	$(GO) vet $(PKGS)
	@test -x $(GOBIN)/staticcheck || $(GO) install $(STATICCHECK)
	$(GOBIN)/staticcheck $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./tasks/ ./enqueue/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./worker/
	$(MAKE) --no-print-directory bench-ratelimit

bench-ratelimit:
	$(GO) run ./internal/cmd/benchratelimit

# Faults injected into separate processes (redis-server, oktaq sim, two
# workers, the API); prints a table. Needs redis-server. Not part of test.
chaos:
	$(GO) run ./internal/cmd/chaos $(CHAOS_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
