# r1d build. `make` builds bin/r1d and build/libr1d.a; `make test` runs every
# test; `make CUDA=0` skips the CUDA backend; `make CC=clang` builds with clang.
# Helpers building in parallel checkouts can set BUILD=dir BINDIR=dir.

# Every core unless -j was given: `make demo` and `make test` start from a fresh build.
# (Sub-makes inherit the jobserver.)
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc)
endif

BUILD  ?= build
BINDIR ?= bin
CC     ?= gcc
CXX    ?= g++
ifeq ($(origin CC),default)
CC := gcc
endif

NODEPS_GOALS := clean help
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
DEPS_STATUS := $(shell mk/deps.sh $(CC) >&2 && echo ok)
ifneq ($(DEPS_STATUS),ok)
$(error build dependencies are missing (see the message above))
endif
endif

# OpenBLAS's OpenMP flavour: BLAS calls then run on the same OpenMP thread team as
# r1d's own kernels. With the pthreads flavour the two pools fight for the cores (idle
# OpenMP workers spin while OpenBLAS threads wait), which halves sgemm throughput.
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_PC    := /usr/lib/$(MULTIARCH)/openblas-openmp/pkgconfig
BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(BLAS_PC) pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS  := $(shell PKG_CONFIG_PATH=$(BLAS_PC) pkg-config --libs openblas 2>/dev/null) \
              -Wl,-rpath,$(shell PKG_CONFIG_PATH=$(BLAS_PC) pkg-config --variable=libdir openblas 2>/dev/null)
PKGS      := jansson libpcre2-8 libutf8proc libxxhash libarchive libzstd yaml-0.1 ompi-c
PKG_CFLAGS := $(BLAS_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(BLAS_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SPM_CFLAGS := $(shell pkg-config --cflags sentencepiece 2>/dev/null)
SPM_LIBS   := $(shell pkg-config --libs sentencepiece 2>/dev/null)

OPT      ?= -O2
WARN     := -Wall -Wextra -Wno-missing-field-initializers
# SAN: extra compile + link flags (sanitizers) for asan-test and fuzz; a
# command-line CFLAGS would replace the flags below instead of adding to them.
SAN      ?=
CFLAGS   += -std=gnu11 $(OPT) -g $(WARN) -fopenmp -pthread -I. $(PKG_CFLAGS) -MMD -MP $(SAN)
CXXFLAGS += -std=gnu++17 $(OPT) -g $(WARN) -pthread -I. $(SPM_CFLAGS) -MMD -MP $(SAN)
LDLIBS   += $(PKG_LIBS) $(SPM_LIBS) -lstdc++ -lm -fopenmp -pthread

# CUDA backend: on when nvcc is found, unless CUDA=0.
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
ifeq ($(NVCC),)
CUDA ?= 0
else
CUDA ?= 1
endif
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCCFLAGS ?= -O2 -std=c++17 -gencode=arch=compute_90,code=sm_90 -Xcompiler -Wall,-Wextra -I. \
             --Werror all-warnings -MMD -MP

LIB_DIRS := core kernels kernels/cpu teacher student dataset eval
LIB_C    := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_CC   := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.cc))
LIB_CU   :=
ifeq ($(CUDA),1)
LIB_CU   := $(wildcard kernels/cuda/*.cu)
CFLAGS   += -DR1D_CUDA=1 -I$(CUDA_HOME)/include
LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lnccl -lcudart
endif
CLI_C    := $(wildcard cli/*.c)
TEST_C   := $(wildcard tests/unit/test_*.c)
FUZZ_C   := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CC:%.cc=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.cu.o)
CLI_OBJ  := $(CLI_C:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libr1d.a
R1D      := $(BINDIR)/r1d
TESTS    := $(TEST_C:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test clean asan-test fuzz help
all: $(R1D) $(LIB)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(R1D): $(CLI_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDFLAGS) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB) tests/unit/test.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

test: $(R1D) $(TESTS)
	R1D=$(abspath $(R1D)) tests/run.sh $(BUILD)/tests

# The built-in demo: the whole pipeline on the CPU from manifests/demo.yaml, nothing
# downloaded (runs/demo/11-report/report.html). Rerunning resumes or skips what is done.
.PHONY: demo
demo: $(R1D)
	$(R1D) run manifests/demo.yaml

# Benchmarks (never part of `make test`): `make bench` builds each
# bench/bench_*.c into $(BUILD)/bench/; run them by hand.
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/bench_*.c))
.PHONY: bench
bench: $(BENCHES)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# AddressSanitizer + UBSan build of everything (into ASAN_BUILD), then the same
# tests; any UB report fails the test that hit it.
ASAN_BUILD ?= build-asan
asan-test:
	$(MAKE) BUILD=$(ASAN_BUILD) BINDIR=$(ASAN_BUILD)/bin CUDA=0 OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" test

# libFuzzer targets (clang); not part of `make test`. FUZZ_SECONDS per target;
# the corpus grows in FUZZ_BUILD/corpus/, seeded from tests/fuzz/seeds/.
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) BINDIR=$(FUZZ_BUILD)/bin CUDA=0 CC=clang CXX=clang++ OPT=-O1 \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	  $(FUZZ_C:tests/fuzz/%.c=$(FUZZ_BUILD)/fuzz/%)
	@set -e; for f in $(FUZZ_C); do n=$$(basename $$f .c); mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  dict=; [ -f tests/fuzz/$$n.dict ] && dict=-dict=tests/fuzz/$$n.dict; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $$dict \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/seeds/$$n; done

# One fuzz target (built by `make fuzz`, with clang and SAN set there).
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

clean:
	rm -rf build build-asan build-fuzz bin

help:
	@sed -n '1,3p' Makefile

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
