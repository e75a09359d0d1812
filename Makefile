# Targets need only Go, make and bash: the MongoDB server for the demo and
# the tests is FerretDB embedded in bin/devserver (see devserver/main.go).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c

# The race detector needs cgo, which Go turns off when no C compiler is
# found; run without -race there rather than fail on a tool we can't fix.
RACE := $(if $(filter 1,$(shell go env CGO_ENABLED)),-race)

# 27018, not 27017, so tests never write into a running demo's server.
TEST_LISTEN := 127.0.0.1:27018

.PHONY: demo test bench fuzz vet clean

bin/devserver: $(wildcard devserver/*.go) devserver/go.mod devserver/go.sum
	go build -C devserver -o ../bin/devserver .

# A built binary, not go run, so that Ctrl-C ends the demo cleanly: go run
# reports an interrupted program as a failure.
demo: bin/devserver
	go build -o bin/counter ./examples/counter
	bin/devserver -dir .devdata -- bin/counter

# Each run gets an empty data folder so leftovers can't hide or cause
# failures; the trap removes it however the run ends.
test: bin/devserver
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	bin/devserver -listen $(TEST_LISTEN) -dir "$$tmp" -- \
		env MONGOSTORE_REQUIRE_SERVER=1 go test $(RACE) -count=1 ./...

# Store and driver floor run side by side; benchstat summarises the six
# rounds. The README's table comes from this target.
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

bench: bin/devserver
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	bin/devserver -listen $(TEST_LISTEN) -dir "$$tmp" -- \
		env MONGOSTORE_REQUIRE_SERVER=1 go test -run '^$$' -bench . \
		-benchmem -count 6 . | tee bench.txt
	go run $(BENCHSTAT) bench.txt

# Each fuzz target for a short while; go test -fuzz takes one at a time.
FUZZTIME ?= 15s

fuzz:
	go test -run '^$$' -fuzz '^FuzzCookie$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzStoredDocument$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzDocumentSerializer$$' \
		-fuzztime $(FUZZTIME) .

vet:
	@unformatted=$$(gofmt -l .); \
	if [[ -n $$unformatted ]]; then \
		echo "gofmt needed:"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...
	go vet -C devserver ./...

clean:
	rm -rf bin .devdata
