# Targets need only Go, make and bash: the MongoDB server for the demo and
# the tests is FerretDB embedded in bin/devserver (see devserver/main.go).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c

# The race detector needs cgo, which Go turns off when no C compiler is
# found; run without -race there rather than fail on a tool we can't fix.
RACE := $(if $(filter 1,$(shell go env CGO_ENABLED)),-race)

# 27018, not 27017, so tests never write into a running demo's server.
TEST_LISTEN := 127.0.0.1:27018

.PHONY: demo test bench vet clean

bin/devserver: $(wildcard devserver/*.go) devserver/go.mod devserver/go.sum
	go build -C devserver -o ../bin/devserver .

demo: bin/devserver
	bin/devserver -dir .devdata -- go run ./examples/counter

# Each run gets an empty data folder so leftovers can't hide or cause
# failures; the trap removes it however the run ends.
test: bin/devserver
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	bin/devserver -listen $(TEST_LISTEN) -dir "$$tmp" -- \
		env MONGOSTORE_REQUIRE_SERVER=1 go test $(RACE) -count=1 ./...

bench: bin/devserver
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	bin/devserver -listen $(TEST_LISTEN) -dir "$$tmp" -- \
		env MONGOSTORE_REQUIRE_SERVER=1 go test -run '^$$' -bench . \
		-benchmem -count 6 ./... | tee bench.txt

vet:
	@unformatted=$$(gofmt -l .); \
	if [[ -n $$unformatted ]]; then \
		echo "gofmt needed:"; echo "$$unformatted"; exit 1; \
	fi
	go vet ./...
	go vet -C devserver ./...

clean:
	rm -rf bin .devdata
