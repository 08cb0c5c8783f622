# The two set-up commands of the README. Both install what they need (scripts/setup), configure and build.
#   make demo   the main job on the bundled demo model
#   make test   build and run every test
#   make fuzz   the libFuzzer targets (fuzz/), longer than the test suite's slice

PRESET ?= default
BUILD_DIR := build
DEMO_DIR ?= demo
LOWMEM := $(BUILD_DIR)/app/lowmem

FUZZ_ARGS ?= --seconds 60

.PHONY: all setup configure build demo test asan fuzz clean format

all: build

setup:
	@if [ "$$(id -u)" -eq 0 ]; then scripts/setup; else sudo scripts/setup; fi

configure: setup
	cmake --preset $(PRESET)

build: configure
	cmake --build --preset $(PRESET)

demo: build
	$(LOWMEM) demo -o $(DEMO_DIR)

test: build
	ctest --preset $(PRESET)

asan:
	$(MAKE) test PRESET=asan BUILD_DIR=build-asan

# libFuzzer targets under ASan+UBSan (scripts/fuzz); FUZZ_ARGS="--runs 1000000" for the documented figures.
fuzz: setup
	scripts/fuzz $(FUZZ_ARGS)

format:
	find app core fuzz kernels models patcher profiler service tests ui bench \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) \
	  | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz $(DEMO_DIR)
