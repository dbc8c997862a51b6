# Garrison — build, run and test.
#
#   make run                         3-node cluster on 127.0.0.1, HAProxy on :1280
#   make run QUICKSTART_ARGS="--home /tmp/g --base-port 2280"
#   make test                        the whole suite, as CI runs it (.ci/run)
#
# `make` alone lists the targets.

# protoc-gen-go is installed into GOPATH/bin; Debian installs haproxy in
# /usr/sbin, which an ordinary user's PATH lacks.
export PATH := $(shell go env GOPATH)/bin:/usr/sbin:/usr/local/sbin:$(PATH)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULE     := github.com/garrison-ctrl/garrison
BIN        := bin/garrison
VERSION    := $(or $(shell git describe --tags --always --dirty 2>/dev/null),v0.1.0-dev)
DATE       := $(shell date -u '+%Y-%m-%d %H:%M:%S')
# The date contains a space: the single quotes keep each -X one argument
# (go build splits -ldflags with shell-like quoting).
LDFLAGS    := -X '$(MODULE)/internal/buildinfo.Version=$(VERSION)' -X '$(MODULE)/internal/buildinfo.BuildDate=$(DATE)'
GO_BUILD   := go build -trimpath -buildvcs=auto -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/garrison

# Extra arguments of `garrison quickstart` for `make run`, e.g.
#   make run QUICKSTART_ARGS="--home /tmp/g --base-port 2280"
QUICKSTART_ARGS ?=
# How long `make fuzz` runs each fuzz target, and `make test` its smoke of
# each: counts of executions. Go 1.26's fuzzer can fail a run that is
# bounded by a duration (such as 3s) with a spurious "context deadline exceeded"
# when its deadline passes while a worker is busy (go.dev/issue/75804,
# fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 1000000x
FUZZSMOKE ?= 20000x
# Benchmarks `make bench` runs (a -bench regexp) and for how long each.
BENCH     ?= .
BENCHTIME ?= 5s

.PHONY: help build run test test-unit proto bench fuzz lint clean chaos

help: ## list the targets
	@echo "Garrison make targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: QUICKSTART_ARGS (run), FUZZTIME=$(FUZZTIME) (fuzz), BENCH=$(BENCH) BENCHTIME=$(BENCHTIME) (bench)"
	@echo "  e.g. make run QUICKSTART_ARGS=\"--home /tmp/g --base-port 2280\""

build: ## build bin/garrison (version from git describe)
	$(GO_BUILD)

run: ## start a local 3-node cluster with HAProxy on :1280 and print the admin login
	scripts/ensure-tools.sh haproxy
	$(GO_BUILD)
	$(BIN) quickstart $(QUICKSTART_ARGS)

test: ## run the whole suite, end-to-end tests included (installs haproxy if it can)
	go version
	scripts/ensure-tools.sh haproxy --require
	go mod download
	$(GO_BUILD)
	GARRISON_BIN=$(CURDIR)/$(BIN) go test -count=1 -timeout 25m ./...
	scripts/fuzz.sh -t $(FUZZSMOKE)

# How many cycles `make chaos` runs, and where it writes its report.
CHAOS_CYCLES ?= 200
CHAOS_OUT ?= $(CURDIR)/chaos-out

chaos: build ## run the fault harness for CHAOS_CYCLES cycles (default 200); report in CHAOS_OUT
	scripts/ensure-tools.sh haproxy --require
	mkdir -p $(CHAOS_OUT)
	set -o pipefail; GARRISON_BIN=$(CURDIR)/$(BIN) GARRISON_CHAOS_CYCLES=$(CHAOS_CYCLES) \
	  GARRISON_CHAOS_REPORT=$(CHAOS_OUT)/chaos-report.json \
	  go test -count=1 -run 'TestChaos$$' -timeout 600m -v ./e2e/ | tee $(CHAOS_OUT)/chaos.log

test-unit: ## run the fast tests only (go test -short; end-to-end tests skip)
	go test -short -count=1 ./...

proto: ## regenerate proto/garrisonpb from proto/*.proto (installs protoc if it can)
	scripts/ensure-tools.sh protoc --require
	protoc -I proto -I /usr/include --go_out=proto/garrisonpb --go_opt=paths=source_relative proto/*.proto

bench: ## run the end-to-end benchmarks in e2e/ (BENCH, BENCHTIME)
	scripts/ensure-tools.sh haproxy
	$(GO_BUILD)
	GARRISON_BIN=$(CURDIR)/$(BIN) go test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout 30m ./e2e/

fuzz: ## run every fuzz target for FUZZTIME each (e.g. FUZZTIME=10000000x), saving the corpus it grows
	scripts/fuzz.sh -t $(FUZZTIME) -s -o fuzz-results.tsv

lint: ## gofmt (fails on unformatted files) and go vet
	@out="$$(gofmt -l .)"; if [[ -n "$$out" ]]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	go vet ./...

clean: ## remove bin/
	rm -rf bin
