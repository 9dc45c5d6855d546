/*
 * fuzz_sink: libFuzzer target for what a sink reads from ZeroMQ: the wire
 * frames of common/wire.c as the sink core (sink/core.c) takes them, with
 * HELLO, PGO and ROW records, the pgoutput messages inside them, and the
 * routing id each arrives under.  Input: messages of u8 peer (0 "a", 1 "b"
 * feed the sink, 2 "c" does not, else anonymous), u16 big-endian length,
 * that many bytes of frame (the last takes what is left), each from its own
 * exact-size copy.  The kind renders every change as Debezium JSON.  Seeds:
 * tests/fuzz/seed_sink.py.  Run: make fuzz.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/ckpt.h"
#include "common/log.h"
#include "sink/sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cfg *cfg;
static struct ckpt *ck;
static struct buf json;

static int fz_open(struct sink *s) { (void)s; return 0; }
static int fz_commit(struct sink *s, struct sink_slot *sl) { (void)s; (void)sl; return 0; }
static void fz_rollback(struct sink *s, struct sink_slot *sl) { (void)s; (void)sl; }
static int fz_flush(struct sink *s, struct ckpt_batch *b) { (void)s; (void)b; return 0; }
static void fz_close(struct sink *s) { (void)s; }

static int
fz_change(struct sink *s, struct sink_slot *sl, const struct sink_change *c)
{
	buf_reset(&json);
	sink_json_event(s, sl, c, &json);
	return 0;
}

static const struct sink_ops fuzz_ops = {
	.type = "fuzz", .open = fz_open, .change = fz_change, .commit = fz_commit,
	.rollback = fz_rollback, .flush = fz_flush, .close = fz_close,
};

/* A config with slots a, b feeding sink "s" and c feeding another one, and
 * an LMDB environment, both kept for the whole run. */
static void
init(void)
{
	char dir[] = "/tmp/fuzz_sink.XXXXXX", path[128], err[1024];
	FILE *f;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/pgcdc.cfg", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "state_dir = \"%s\"; run_dir = \"%s/run\";\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "slots = ( { name = \"a\"; tables = [ \"public.t\" ]; sinks = [ \"s\" ]; },\n"
	    "  { name = \"b\"; tables = [ \"public.u\" ]; sinks = [ \"s\" ]; },\n"
	    "  { name = \"c\"; tables = [ \"public.v\" ]; sinks = [ \"o\" ]; } );\n"
	    "sinks = ( { name = \"s\"; type = \"jsonl\"; dir = \"%s/out\"; },\n"
	    "  { name = \"o\"; type = \"jsonl\"; dir = \"%s/o\"; } );\n", dir, dir, dir, dir);
	if (fclose(f) != 0 || (cfg = cfg_load(path, err, sizeof(err))) == NULL ||
	    (ck = ckpt_open(cfg->state_dir, (size_t)cfg->lmdb_map_size)) == NULL) {
		fprintf(stderr, "fuzz_sink: setup: %s\n", err);
		abort();
	}
	log_init("sink", "fuzz");
	log_set_file("/dev/null");	/* rejections are logged: too many here */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const peers[] = { "a", "b", "c", "" };
	struct sink s;
	size_t at = 0;

	if (cfg == NULL)
		init();
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.conf = cfg_sink_find(cfg, "s");
	s.ops = &fuzz_ops;
	s.ck = ck;
	while (at + 3 <= size) {
		const char *peer = peers[data[at] < 3 ? data[at] : 3];
		size_t n = (size_t)data[at + 1] << 8 | data[at + 2];
		uint8_t *copy;

		at += 3;
		if (n > size - at)
			n = size - at;
		if ((copy = malloc(n ? n : 1)) == NULL)
			abort();
		memcpy(copy, data + at, n);
		if (sink_frame(&s, peer, copy, n) < 0)
			abort();	/* a kind that cannot fail: only input was bad */
		free(copy);
		at += n;
	}
	s.ck = NULL;	/* kept for the next input */
	sink_close(&s);
	return 0;
}
