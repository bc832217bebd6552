# CloudSkin: `make run` starts the embedded continuum, `make test` installs
# what the tests need (idempotently) and runs them, `make bench` measures.
SHELL := /bin/bash
GO ?= go
PKG := github.com/cloudskin/cloudskin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
BIN := bin/cloudskin
ARGS ?=

.PHONY: all build run test deps lint bench fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cloudskin

run: build
	./$(BIN) up $(ARGS)

deps:
	bash scripts/install-deps.sh

test: deps
	bash scripts/test.sh

lint:
	bash scripts/lint.sh

bench: deps build
	bash scripts/bench.sh

# Run every fuzz target for FUZZTIME each (the kept corpus also runs in `make test`).
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin .tools/bin
