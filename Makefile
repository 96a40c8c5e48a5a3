# tickd: the two commands are `make run` and `make test`. Everything else is a convenience.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_TSAN ?= build-tsan
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:8080
DATA_DIR   ?= ./data
CMAKE_FLAGS ?=

.PHONY: all deps build web run test asan test-asan tsan test-tsan fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The dashboard (web/dist): npm ci + Vite when missing or stale; never fails the build (tickd then serves a
# "dashboard not built" page). WEB_STRICT=1 makes it fail.
web:
	@web/build.sh

run: build web
	TD_WEB_ROOT=$(CURDIR)/web/dist $(BUILD)/tickd --listen $(LISTEN) --data-dir $(DATA_DIR)

test: build web
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(BUILD_ASAN)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DTD_SANITIZE=ON >/dev/null

asan: deps $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)

test-asan: asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer: every test but the browser ones (node/Chromium drive a tickd that has nothing new to race
# there, and TSan's shadow memory makes them slow); TD_SANITIZER tells tests that measure RSS.
$(BUILD_TSAN)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=Debug -DTD_TSAN=ON >/dev/null

tsan: deps $(BUILD_TSAN)/CMakeCache.txt
	cmake --build $(BUILD_TSAN) -j $(JOBS)

test-tsan: tsan
	cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 TD_SANITIZER=thread \
	  ctest --output-on-failure -j $(JOBS) -E '^e2e_test_web_'

$(BUILD_FUZZ)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DTD_SANITIZE=ON -DTD_FUZZ=ON >/dev/null

fuzz: deps $(BUILD_FUZZ)/CMakeCache.txt
	cmake --build $(BUILD_FUZZ) -j $(JOBS)

# Runs every fuzz target for FUZZ_SECONDS each on its seed corpus (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 20
fuzz-smoke: fuzz
	tests/fuzz/run.sh $(BUILD_FUZZ)/fuzz $(FUZZ_SECONDS)

bench: build
	@for b in $(BUILD)/bench/*; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_FUZZ) web/dist
