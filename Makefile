# pgcdc build.  Targets: all, test, unit, integration, faults, bench, demo,
# install, clean.  `make SANITIZE=1` adds ASan/UBSan; objects live in build/
# (build-san/ when sanitized) so the two never mix.

PREFIX  ?= /usr/local
CC      ?= cc
PG_INC  := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wformat=2 -Wvla -Wimplicit-fallthrough -Werror \
           -I. -I$(PG_INC) -D_GNU_SOURCE
LDLIBS  += -lpq -llmdb -lzmq -lconfig

ifeq ($(SANITIZE),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build
endif

COMMON_SRC := $(wildcard common/*.c)
WORKER_SRC := $(filter-out worker/main.c,$(wildcard worker/*.c))
SINK_SRC   := $(filter-out sink/main.c,$(wildcard sink/*.c))
SUP_SRC    := $(filter-out supervisor/main.c,$(wildcard supervisor/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

COMMON_A := $(BUILD)/libcommon.a
WORKER_A := $(BUILD)/libworker.a
SINK_A   := $(BUILD)/libsink.a
SUP_A    := $(BUILD)/libsup.a

BINS := $(BUILD)/pgcdc $(BUILD)/pgcdc-worker $(BUILD)/pgcdc-sink
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all test unit integration faults bench demo install clean deps fuzz
all: $(BINS)
	@ln -sf $(BUILD)/pgcdc pgcdc 2>/dev/null || true

$(BUILD)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(COMMON_A): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(WORKER_A): $(call obj,$(WORKER_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(SINK_A): $(call obj,$(SINK_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(SUP_A): $(call obj,$(SUP_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/pgcdc: $(call obj,supervisor/main.c) $(SUP_A) $(COMMON_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lmicrohttpd
$(BUILD)/pgcdc-worker: $(call obj,worker/main.c) $(WORKER_A) $(COMMON_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/pgcdc-sink: $(call obj,sink/main.c) $(SINK_A) $(COMMON_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lrdkafka

# Unit tests link every library so a test may cover any module.
$(BUILD)/tests/%: tests/unit/%.c $(WORKER_A) $(SINK_A) $(SUP_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka -lrdkafka

# The kafka sink's test helper: librdkafka's mock cluster in a process of its own.
$(BUILD)/tests/kafka_mock: tests/kafka_mock.c $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lrdkafka

# The fault campaign's LMDB map-full injection.
$(BUILD)/tests/lmdb_fill: tests/lmdb_fill.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -llmdb

deps:
	@scripts/deps.sh

unit: $(UNIT_BINS)
	@scripts/run-tests.sh unit $(UNIT_BINS)

integration: all
	@scripts/run-tests.sh integration

# FAULTS=N faults (default 30, a few minutes; SEED=S replays a campaign's
# fault sequence); the time limit grows with N.
faults: all
	@FAULTS=$(FAULTS) SEED=$(SEED) scripts/run-tests.sh faults

# The whole suite: deps, warning-free build, unit, integration and fault tests.
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@scripts/run-tests.sh all $(UNIT_BINS)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench/run.sh

# Binaries, the systemd unit, the logrotate snippet, README and sample
# configs; SYSCONFDIR/pgcdc/pgcdc.cfg (0640) only if there is none yet.
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/pgcdc
RUNDIR     ?= /run/pgcdc
ETC_SUBST  := -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
              -e 's|@DOCDIR@|$(DOCDIR)|g' -e 's|@RUNDIR@|$(RUNDIR)|g'
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/share/pgcdc/etc $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(DOCDIR)
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/pgcdc
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 etc/*.cfg $(DESTDIR)$(PREFIX)/share/pgcdc/etc/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	sed $(ETC_SUBST) etc/pgcdc.service >$(DESTDIR)$(UNITDIR)/pgcdc.service
	sed $(ETC_SUBST) etc/pgcdc.logrotate >$(DESTDIR)$(SYSCONFDIR)/logrotate.d/pgcdc
	chmod 0644 $(DESTDIR)$(UNITDIR)/pgcdc.service $(DESTDIR)$(SYSCONFDIR)/logrotate.d/pgcdc
	[ -e $(DESTDIR)$(SYSCONFDIR)/pgcdc/pgcdc.cfg ] || \
	    install -m 0640 etc/pgcdc.cfg $(DESTDIR)$(SYSCONFDIR)/pgcdc/pgcdc.cfg

clean:
	rm -rf build build-san pgcdc

# libFuzzer (clang only) on the pgoutput decoder and JSON rendering
# (fuzz_pgo), the config loader (fuzz_cfg) and the frames a sink reads from
# ZeroMQ (fuzz_sink): builds build-fuzz/fuzz_*, seeds each, runs each
# FUZZ_SECONDS; a crash leaves its input in build-fuzz/ and fails the target.
# No -Werror: the gcc build enforces warnings, clang's extra ones should not
# block fuzzing.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build-fuzz
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Wshadow -Wmissing-prototypes \
                -Wstrict-prototypes -Wvla -Wimplicit-fallthrough \
                -I. -I$(PG_INC) -D_GNU_SOURCE -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_FIXTURES := tests/fixtures/pgoutput/stream.hex tests/fixtures/pgoutput/kinds.hex
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
           -artifact_prefix=$(FUZZ_DIR)/$(1)- $(FUZZ_DIR)/corpus-$(1) $(FUZZ_DIR)/seeds-$(1)

fuzz:
	@mkdir -p $(FUZZ_DIR)/corpus-pgo $(FUZZ_DIR)/corpus-cfg $(FUZZ_DIR)/corpus-sink
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $(FUZZ_DIR)/fuzz_pgo tests/fuzz/fuzz_pgo.c $(COMMON_SRC) $(LDLIBS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $(FUZZ_DIR)/fuzz_cfg tests/fuzz/fuzz_cfg.c $(COMMON_SRC) $(LDLIBS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $(FUZZ_DIR)/fuzz_sink tests/fuzz/fuzz_sink.c $(SINK_SRC) \
	    $(COMMON_SRC) $(LDLIBS) -lrdkafka
	@rm -rf $(FUZZ_DIR)/seeds-*
	@python3 tests/fuzz/seed.py $(FUZZ_DIR)/seeds-pgo $(FUZZ_FIXTURES)
	@python3 tests/fuzz/seed_sink.py $(FUZZ_DIR)/seeds-sink $(FUZZ_DIR)/seeds-pgo
	@mkdir -p $(FUZZ_DIR)/seeds-cfg && cp etc/*.cfg tests/fixtures/cfg/*.cfg $(FUZZ_DIR)/seeds-cfg/
	$(FUZZ_DIR)/fuzz_pgo -max_len=4096 $(call FUZZ_RUN,pgo)
	LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp $(FUZZ_DIR)/fuzz_cfg -max_len=8192 \
	    $(call FUZZ_RUN,cfg)
	$(FUZZ_DIR)/fuzz_sink -max_len=8192 $(call FUZZ_RUN,sink)
