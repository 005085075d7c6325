# sscagent build, test and lint. `make help` lists the targets.
GO      ?= go
MODULE  := github.com/sscagent/sscagent
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X $(MODULE)/version.Version=$(VERSION) -X $(MODULE)/version.Commit=$(COMMIT)
FUZZTIME ?= 10s

.PHONY: help build test lint cover fuzz demo clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/sscagent and bin/sscsim
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

test: ## vet, then every test of every package with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

lint: ## gofmt check, go vet, staticcheck when it can be installed
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...; \
	else echo "staticcheck not installable here; skipped"; fi

cover: ## test with coverage; writes cover.out and prints the total
	$(GO) test -count=1 -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -1

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

demo: ## run the agent on the example configuration, state in ./.demo
	$(GO) run ./cmd/sscagent run --config packaging/sscagent.example.yaml --state-dir .demo

clean: ## remove build output
	rm -rf bin cover.out .demo
