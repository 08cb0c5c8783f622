# The two set-up commands of the README. Both install what they need (scripts/setup), configure and build.
#   make demo   the main job on the bundled demo model
#   make test   build and run every test

PRESET ?= default
BUILD_DIR := build
DEMO_DIR ?= demo
LOWMEM := $(BUILD_DIR)/app/lowmem

.PHONY: all setup configure build demo test asan clean format

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

format:
	find app core kernels models patcher profiler service tests ui bench \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) \
	  | xargs clang-format -i

clean:
	rm -rf build build-asan $(DEMO_DIR)
