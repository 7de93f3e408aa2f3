# The single entry point. `make test` and `make sim` are all a newcomer needs.
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
# Brief fuzzing of every decoder in make test, as an execution count: a
# duration budget races Go 1.26's fuzz coordinator at its deadline and fails
# a loaded run with a bare "context deadline exceeded" (golang/go#75804,
# fixed in Go 1.27). Longer runs: make fuzz FUZZTIME=5m
FUZZTIME ?= 50000x
BIN := bin

.PHONY: all build fmtcheck vet browser test fuzz sim campaign mutation real realcheck bench bench-vs-etcd lint kvd kvd-unsafe etcdctl etcdutl etcd etcd-benchmark clean

all: build

build:
	$(GO) build ./...

fmtcheck:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...

# Headless Chromium for the dashboard's browser test (cmd/kvd
# TestDashboardInBrowser): Debian's chromium package, installed once.
# Another browser: KVD_TEST_BROWSER=/path/to/chrome make test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ -n "$$KVD_TEST_BROWSER" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; else \
	  echo "installing Debian's chromium for the dashboard's browser test"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	fi

# Everything CI runs: formatting, vet, every test, and a brief fuzz of every decoder.
test: build fmtcheck vet browser
	$(GO) test -count=1 -timeout 12m ./...
	@$(MAKE) --no-print-directory fuzz

# Every Fuzz target in the tree, each for FUZZTIME (go test fuzzes one target per run).
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go'; git ls-files --others --exclude-standard '*_test.go'); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz ./$$(dirname $$f) $$t for $(FUZZTIME)"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f); \
	  done; \
	done

# The default seeded campaign: about 100 seeds mixing workloads and nemesis
# profiles, one worker process per core; prints the summary and the report's
# path. Exit codes: kvsim help.
sim:
	$(GO) run ./cmd/kvsim run --seeds 1-100 --workers $$(nproc) --cover reports/out/cover

# Long campaigns: make campaign SEEDS=1-5000 KVSIM_FLAGS='--workload register --nemesis all'
campaign:
	$(GO) run ./cmd/kvsim run --seeds $${SEEDS:-1-2000} --workers $$(nproc) $${KVSIM_FLAGS}

# The harness's own power: every planted bug of core/bugs against its
# package's unit tests and the default campaign (seeds from 1 until the
# first failure, at most 60 s each), the first failure shrunk and replayed.
# Prints the table and the mutation score; report in reports/out/mutation.
# Long (about 6 minutes on 2 cores): not in make test. One bug:
# make mutation MUTATION_FLAGS='--bugs mvcc-range-limit-off-by-one'
mutation:
	$(GO) run -tags kvdbugs ./cmd/kvsim mutation --workers $$(nproc) --out reports/out/mutation $${MUTATION_FLAGS}

# The same workloads and checkers on real processes: 3 kvd members on
# 127.0.0.1 with kills, pauses and proxy partitions. Against etcd:
# make real REAL_BIN=bin/etcd (after make etcd). More: REAL_FLAGS='--seeds 1-5 --workload bank'
real: kvd
	$(GO) run ./cmd/kvsim real --bin $${REAL_BIN:-$(BIN)/kvd} $${REAL_FLAGS}

# The real-process validation: every workload x RUNS runs against kvd and
# against etcd v3.7.3 (0 violations expected), and etcd with reads switched
# to serializable (a stale read expected); prints the table. Long: not in
# make test. make realcheck RUNS=20 DURATION=30s JOBS=2
realcheck: kvd kvd-unsafe etcd
	$(GO) build -o $(BIN)/kvsim ./cmd/kvsim
	tools/realcheck.sh $(BIN) $${RUNS:-3} $${DURATION:-30s} $${JOBS:-1}

# The store's benchmarks and the harness's (simulated client ops per wall
# second, checker time per seed, whole seeds per workload). Compare two
# trees with benchstat: make bench > old.txt; ...; make bench > new.txt.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$${BENCHTIME:-1s} ./core/... ./sim ./linearizability ./cmd/kvsim

lint: build fmtcheck vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# The daemon, in bin/kvd.
kvd:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/kvd ./cmd/kvd

# kvd with the planted bugs kvsim must catch, switched on by --unsafe NAME
# (kvsim real --bin bin/kvd-unsafe --unsafe stale-read). Never deploy it.
kvd-unsafe:
	@mkdir -p $(BIN)
	$(GO) build -tags kvdunsafe -o $(BIN)/kvd-unsafe ./cmd/kvd

# etcd's own etcdctl v3.7.3, built from the Go module proxy in its own module.
etcdctl:
	@tools/build.sh etcdctl $(BIN)/etcdctl

# etcd's own etcdutl v3.7.3 (snapshot status and restore), built the same way.
etcdutl:
	@tools/build.sh etcdutl $(BIN)/etcdutl

# etcd v3.7.3, built from the Go module proxy in its own module.
etcd:
	@tools/build.sh etcd $(BIN)/etcd

# etcd's own benchmark tool (tools/benchmark of go.etcd.io/etcd/v3 v3.6.8:
# v3.7.3's root module is not on the module proxy), built the same way.
etcd-benchmark:
	@tools/build.sh benchmark $(BIN)/etcd-benchmark

# kvd vs etcd: 3-member clusters on 127.0.0.1, every load A B A B for 3 rounds
# with kvbench and then with etcd's own benchmark tool, peak RSS sampled
# during every run; then the other configurations of the targets (1 request
# in flight, 1,000 clients, 4 KiB/64 KiB values, 10,000 watchers, 5-member
# clusters), resident memory after 1M keys, and a follower's restart time;
# prints the targets with their ratios and a ✓/✗; report in
# reports/bench/<time>/. Not part of make test. More:
# make bench-vs-etcd BENCH_FLAGS='--rounds 5 --total 50000'; skip the other
# configurations with BENCH_FLAGS='--configs none'. Each main load runs once
# more per system, after the measured runs, with every member CPU-profiled
# (--cpu-profiles), and the report says who spent the servers' CPU.
bench-vs-etcd: kvd etcd etcd-benchmark
	$(GO) run ./cmd/kvbench vs --kvd-bin $(BIN)/kvd --etcd-bin $(BIN)/etcd --etcd-benchmark-bin $(BIN)/etcd-benchmark --cpu-profiles $(BENCH_FLAGS)

clean:
	rm -rf $(BIN)
