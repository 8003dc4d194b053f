# Strata: the two commands of the README.
#   make demo   install dependencies, build, run the main job on this machine
#   make check  install dependencies, build, run the test suite (then the unit,
#               sim and corpus tests, the store kill and auth tests and the
#               API e2e with sanitized daemons, again under ASAN+UBSAN)
# Also: make fuzz-smoke (every libFuzzer target for a short time, clang).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 20

.PHONY: demo check fuzz-smoke deps build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	scripts/demo $(BUILD)

check: build
	cd $(BUILD) && ctest --output-on-failure -LE slow -j$(JOBS)
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSTRATA_ASAN=ON -DSTRATA_UBSAN=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -L 'unit|sim|fuzz-corpus|sanitize' -LE slow -j$(JOBS)

fuzz-smoke: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSTRATA_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	scripts/fuzz-smoke $(FUZZ_BUILD) $(FUZZ_SECONDS)
