# sscagent build, test and lint. `make help` lists the targets.
GO      ?= go
MODULE  := github.com/sscagent/sscagent
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X $(MODULE)/internal/version.Version=$(VERSION) -X $(MODULE)/internal/version.Commit=$(COMMIT) -X $(MODULE)/internal/version.Stamp=sscagent-version=$(VERSION);
FUZZTIME ?= 10s
# make test fuzzes each target for a number of inputs, not a duration: Go 1.26's fuzzer
# can fail a target at the end of a -fuzztime duration with a bare "context deadline
# exceeded" on a loaded machine (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race.
TEST_FUZZTIME ?= 10000x
FLAKY_COUNT ?= 5
PKG     ?= ./...
RUN     ?=

.PHONY: help build readerlib test test-flaky lint cover fuzz demo clean fleet-cluster-test fleet-scale-bench linux arm64 windows packages msi check-deploy systemd-test

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/sscagent and bin/sscsim
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/sscagent ./cmd/sscsim

# The national reader interface library (docs/reader-library.md), with cgo: the system
# gcc for Linux, mingw-w64 (Debian gcc-mingw-w64) for the two Windows DLLs. go build's own
# header beside each library declares only its internal entry points: sscreader.h is the
# one to use.
READERLIB_BUILD = CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared -ldflags "-s -w"
readerlib: ## build the national reader library: bin/libsscreader.so, bin/linux-arm64/libsscreader.so, bin/windows-{amd64,386}/SSCardDriver.dll, bin/sscreader.h
	$(READERLIB_BUILD) -o bin/libsscreader.so ./cmd/sscreader
	CC=$(ARM64_CC) GOOS=linux GOARCH=arm64 $(READERLIB_BUILD) -o bin/linux-arm64/libsscreader.so ./cmd/sscreader
	CC=x86_64-w64-mingw32-gcc GOOS=windows GOARCH=amd64 $(READERLIB_BUILD) -o bin/windows-amd64/SSCardDriver.dll ./cmd/sscreader
	CC=i686-w64-mingw32-gcc GOOS=windows GOARCH=386 $(READERLIB_BUILD) -o bin/windows-386/SSCardDriver.dll ./cmd/sscreader
	rm -f bin/libsscreader.h bin/linux-arm64/libsscreader.h bin/windows-amd64/SSCardDriver.h bin/windows-386/SSCardDriver.h
	cp cmd/sscreader/sscreader.h bin/

# The tests' agents also write their logs, events and captured output to TEST_LOG
# (labtest.LogEnv); leakcheck then fails the run on a secret or clear personal data there.
TEST_LOG ?= $(CURDIR)/.testlog/run.log
test: ## vet, every test of every package with the race detector (then the leak check of their logs), then each fuzz target briefly
	$(GO) vet ./...
	@mkdir -p $(dir $(TEST_LOG)) && rm -f $(TEST_LOG)
	SSCAGENT_TEST_LOG=$(TEST_LOG) $(GO) test -race -count=1 -timeout 30m ./...
	$(GO) run ./cmd/internal/leakcheck $(TEST_LOG)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)
	$(MAKE) --no-print-directory check-deploy

# Each run is one go test -count; test2json's "fail" events are counted per test. A
# package that failed outside any test (build error, panic, timeout) is listed as
# "(package: ...)". The JSON of the runs stays in FLAKY_LOG.
FLAKY_LOG ?= $(or $(TMPDIR),/tmp)/sscagent-test-flaky.json
test-flaky: ## run the tests FLAKY_COUNT times (default 5; PKG, RUN narrow them) and list each failing test with its count
	@echo "go test -race -count=$(FLAKY_COUNT) $(if $(RUN),-run '$(RUN)' )$(PKG) (JSON in $(FLAKY_LOG))"
	@$(GO) test -race -count=$(FLAKY_COUNT) -timeout 60m -json $(if $(RUN),-run '$(RUN)') $(PKG) >$(FLAKY_LOG); \
	rc=$$?; \
	fails=$$(jq -rs '[.[] | select(.Action == "fail")] | group_by(.Package)[] | \
		(map(select(.Test)) | group_by(.Test) | map("\(length)/$(FLAKY_COUNT) \(.[0].Package) \(.[0].Test)")) as $$t | \
		if ($$t | length) > 0 then $$t[] else "- \(.[0].Package) (package: build error, panic or timeout)" end' \
		$(FLAKY_LOG) | sort -k1,1nr -k2); \
	if [ -n "$$fails" ]; then \
		echo "failures in $(FLAKY_COUNT) runs (failed runs, package, test):"; echo "$$fails"; \
		echo "output of one: jq -r 'select(.Test == \"TestName\") | .Output // empty' $(FLAKY_LOG)"; \
		exit 1; \
	elif [ $$rc -ne 0 ]; then \
		jq -r 'select(.Action == "build-output" or (.Action == "output" and .Test == null)) | .Output' $(FLAKY_LOG) | tail -40; \
		echo "go test failed (exit $$rc) without a failing test; output above, JSON in $(FLAKY_LOG)"; exit $$rc; \
	else echo "no flaky tests in $(FLAKY_COUNT) runs"; fi

# The cluster test (docs/mgmt-protocol.md, "Clustered brokers"): 3 NATS nodes, a node
# killed in the middle of a rollout and a burst of commands. CI runs it after make test.
FLEET_CLUSTER ?= 100
fleet-cluster-test: ## terminals on a 3-node NATS cluster (MQTT, JetStream) survive a node kill (FLEET_CLUSTER terminals, default 100)
	SSCAGENT_FLEET_CLUSTER=$(FLEET_CLUSTER) $(GO) test -count=1 -timeout 15m -run '^TestIntegrationFleetCluster$$' -v ./mgmt/fleet/

# The fleet scale benchmark (docs/benchmarks.md): FLEET_SCALE simulated terminals on one
# mosquitto (BROKER=mosquitto) or a 3-node NATS cluster (BROKER=nats), the fleet client
# and the console measuring. Minutes at 10,000; not part of make test or CI.
FLEET_SCALE ?= 10000
BROKER ?= mosquitto
FLEET_STAGGER ?= 1ms
fleet-scale-bench: ## fleet at scale: online time, list, push, manager memory/CPU, console in Chromium (FLEET_SCALE terminals, default 10000; BROKER=mosquitto|nats; FLEET_STAGGER between starts, 1ms)
	SSCAGENT_SCALE_BENCH=$(FLEET_SCALE) SSCAGENT_SCALE_BROKER=$(BROKER) SSCAGENT_SCALE_STAGGER=$(FLEET_STAGGER) $(GO) test -count=1 -timeout 15m -run '^TestFleetScale$$' -v ./mgmt/fleetsim/

lint: ## gofmt check, go vet, staticcheck when it can be installed
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...; \
	else echo "staticcheck not installable here; skipped"; fi

cover: ## test with coverage; writes cover.out and prints the total
	$(GO) test -count=1 -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -1

fuzz: ## run every fuzz target for FUZZTIME each (default 10s; or a count of inputs: 100000x)
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	$(GO) test -list '^Fuzz' ./... | \
		awk '/^Fuzz/ {f[n++] = $$1} /^(ok|\?) / {for (i = 0; i < n; i++) print $$2, f[i]; n = 0}' | \
		while read -r pkg f; do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >"$$log" 2>&1 || \
				{ cat "$$log"; exit 1; }; \
		done

DEMOFLAGS ?=
# The demo's virtual readers need no cgo: without libpcsclite or a C compiler it is
# built without cgo, so a machine with only Go runs it.
demo: ## the main job on embedded defaults: sandbox platform, MQTT broker, virtual reader and card, this terminal as the QR scanner (state in ./.demo; DEMOFLAGS=--keep)
	@if pkg-config --exists libpcsclite 2>/dev/null && command -v "$$($(GO) env CC)" >/dev/null 2>&1; then \
		$(GO) run ./cmd/sscagent demo $(DEMOFLAGS); \
	else \
		echo "demo: no libpcsclite-dev or C compiler: building without cgo (the demo's virtual readers need none)"; \
		CGO_ENABLED=0 $(GO) run ./cmd/sscagent demo $(DEMOFLAGS); \
	fi

clean: ## remove build output
	rm -rf bin cover.out .demo $(DIST)

# Deployment artefacts (docs/deploy.md): .deb and .rpm for linux/amd64 and linux/arm64,
# Windows builds and the MSI, all in DIST.
DIST    ?= dist
NFPM    ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
# A package version: the tag without its "v" on a tagged commit, else 0.0.0+gitHASH.
PKG_VERSION ?= $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null | sed 's/^v//' | grep . || echo 0.0.0+git$(COMMIT))
ARM64_CC ?= aarch64-linux-gnu-gcc
ARM64_PKG_CONFIG_LIBDIR ?= /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
WIN_ARCHS ?= amd64 arm64
# Release builds: stripped; position-independent on Linux (lintian's hardening checks).
DIST_LDFLAGS := -s -w $(LDFLAGS)

linux: ## build DIST/linux-amd64/sscagent (cgo, PC/SC through libpcsclite)
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -buildmode=pie -ldflags "$(DIST_LDFLAGS)" -o $(DIST)/linux-amd64/ ./cmd/sscagent

arm64: ## cross-build DIST/linux-arm64/sscagent with gcc-aarch64-linux-gnu and the arm64 libpcsclite
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=$(ARM64_CC) PKG_CONFIG_LIBDIR=$(ARM64_PKG_CONFIG_LIBDIR) \
		$(GO) build -trimpath -buildmode=pie -ldflags "$(DIST_LDFLAGS)" -o $(DIST)/linux-arm64/ ./cmd/sscagent

# PKG_ARCHS and PKG_FORMATS narrow them (make systemd-test builds only the amd64 .deb).
PKG_ARCHS ?= amd64 arm64
PKG_FORMATS ?= deb rpm
packages: linux $(filter arm64,$(PKG_ARCHS)) ## .deb and .rpm for amd64 and arm64 in DIST (nfpm; packaging/linux/nfpm.yaml)
	@for arch in $(PKG_ARCHS); do for p in $(PKG_FORMATS); do \
		sed "s#@BIN@#$(DIST)/linux-$$arch/sscagent#" packaging/linux/nfpm.yaml >$(DIST)/nfpm-$$arch.yaml && \
		PKG_ARCH=$$arch PKG_VERSION='$(PKG_VERSION)' $(NFPM) package -f $(DIST)/nfpm-$$arch.yaml -p $$p -t $(DIST)/ || exit 1; \
	done; done
	@ls -l $(foreach f,$(PKG_FORMATS),$(DIST)/*.$(f))

windows: ## GOOS=windows builds (no cgo: winscard.dll) of sscagent and sscsim, WIN_ARCHS (amd64 arm64)
	@for arch in $(WIN_ARCHS); do \
		CGO_ENABLED=0 GOOS=windows GOARCH=$$arch $(GO) build -trimpath -ldflags "$(DIST_LDFLAGS)" \
			-o $(DIST)/windows-$$arch/ ./cmd/sscagent ./cmd/sscsim || exit 1; \
	done

msi: windows ## DIST/sscagent-VERSION-x64.msi with wixl (msitools) from packaging/windows/sscagent.wxs
	wixl --arch x64 -D Version=$(MSI_VERSION) -D SourceDir=$(DIST)/windows-amd64 -D ConfigFile=packaging/sscagent.example.yaml \
		-o $(DIST)/sscagent-$(PKG_VERSION)-x64.msi packaging/windows/sscagent.wxs

# An MSI ProductVersion is three numbers: the tag's, else 0.0.0.
MSI_VERSION ?= $(shell echo '$(PKG_VERSION)' | sed -E 's/^([0-9]+\.[0-9]+\.[0-9]+).*/\1/; t; s/.*/0.0.0/')

check-deploy: ## build the packages, the MSI and the arm64 binary, and check them (packaging/check)
	DIST=$(DIST) GO=$(GO) ./packaging/check

# Root, debootstrap and systemd-nspawn (systemd-container); CI runs it after make test.
systemd-test: ## boot Debian 12 with systemd in a container and check the .deb's service there (packaging/systemd-test, docs/deploy.md)
	DIST=$(DIST) ./packaging/systemd-test
