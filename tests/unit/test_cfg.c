/*
 * test_cfg: the config loader.  Good configs (fixtures and etc/pgcdc.cfg) load
 * with every field and default as documented; each kind of bad config is
 * refused with "file:line: setting.path: message" lines, all problems at once,
 * and never with a password in the text.  Run with cwd = repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cfg.h"
#include "common/log.h"

#define MIB (1024L * 1024L)

/* Lines 1-3 of most bad configs below: a valid head, so line numbers of the
 * settings that follow are easy to count. */
#define HEAD \
	"state_dir = \"/tmp/s\";\n" \
	"source = { conninfo = \"dbname=x\"; };\n" \
	"sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"/tmp/o\"; } );\n"
#define SLOT_OK "  { name = \"a\"; tables = [ \"public.t\" ]; sinks = [ \"lake\" ]; }"

static char tmpdir[] = "/tmp/test_cfg.XXXXXX";
static char path[256];
static char err[8192];

static int
setup_dir(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/t.cfg", tmpdir);
	return 0;
}

static int
remove_dir(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(tmpdir);
}

static void
write_cfg(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Load a config that must be accepted. */
static struct cfg *
load_good(const char *file)
{
	struct cfg *c = cfg_load(file, err, sizeof(err));

	if (c == NULL)
		fail_msg("%s refused:\n%s", file, err);
	assert_string_equal(err, "");
	return c;
}

/* Write text to the temp config and load it; it must be refused. */
static void
load_bad(const char *text)
{
	struct cfg *c;

	write_cfg(text);
	c = cfg_load(path, err, sizeof(err));
	if (c != NULL)
		fail_msg("config was accepted:\n%s", text);
}

/* err must contain a line that is exactly "<path>:<line>: <rest>". */
static void
assert_line(int line, const char *rest)
{
	char want[1024];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "%s:%d: %s", path, line, rest);
	for (const char *p = err; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return;
	fail_msg("expected line\n  %s\nin errors:\n%s", want, err);
}

/* err must contain a line starting "<path>:<line>: <setting>: " and holding words. */
static void
assert_error(int line, const char *setting, const char *words)
{
	char want[512];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "%s:%d: %s: ", path, line, setting);
	for (const char *p = err; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *eol = strchr(p, '\n'), *w;

		if (strncmp(p, want, n) != 0)
			continue;
		w = strstr(p + n, words);
		if (w != NULL && (eol == NULL || w < eol))
			return;
	}
	fail_msg("expected \"%s...%s\" in errors:\n%s", want, words, err);
}

static int
count_lines(const char *s)
{
	int n = *s ? 1 : 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Lines come in the order of the file, whatever order they were found in. */
static void
assert_sorted(void)
{
	size_t plen = strlen(path);
	long last = 0;

	for (const char *p = err; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		long line;

		assert_true(strncmp(p, path, plen) == 0 && p[plen] == ':');
		line = strtol(p + plen + 1, NULL, 10);
		if (line < last)
			fail_msg("line %ld after line %ld in errors:\n%s", line, last, err);
		last = line;
	}
}

static void
test_good_config_every_field(void **state)
{
	struct cfg *c = load_good("tests/fixtures/cfg/good.cfg");
	const struct cfg_slot *s;
	const struct cfg_sink *k;

	(void)state;
	assert_string_equal(c->path, "tests/fixtures/cfg/good.cfg");
	assert_string_equal(c->state_dir, "/tmp/pgcdc-test/state");
	assert_string_equal(c->run_dir, "/tmp/pgcdc-test/run");
	assert_int_equal(c->log_level, LL_DEBUG);
	assert_string_equal(c->log_file, "/tmp/pgcdc-test/pgcdc.log");
	assert_string_equal(c->conninfo, "host=db port=5433 dbname=shop user=cdc");
	assert_string_equal(c->password_file, "/etc/pgcdc/password");
	assert_int_equal(c->snapshot_mode, CFG_SNAP_NEVER);
	assert_int_equal(c->chunk_rows, 1000);
	assert_int_equal(c->status_interval_ms, 2500);
	assert_int_equal(c->max_unacked_bytes, 8589934592L);
	assert_int_equal(c->shutdown_timeout, 5);
	assert_int_equal(c->lmdb_map_size, 1073741824L);

	assert_int_equal(c->nslots, 2);
	s = &c->slots[0];
	assert_string_equal(s->name, "inventory");
	assert_string_equal(s->publication, "inventory_pub");
	assert_int_equal(s->ntables, 2);
	assert_string_equal(s->tables[0], "inventory.customers");
	assert_string_equal(s->tables[1], "inventory.orders");
	assert_int_equal(s->nsinks, 2);
	assert_string_equal(s->sinks[0], "lake");
	assert_string_equal(s->sinks[1], "replica");
	assert_int_equal(s->shards, 1);
	assert_int_equal(s->snapshot_mode, CFG_SNAP_INITIAL_ONLY);
	s = &c->slots[1];
	assert_string_equal(s->name, "shop");
	assert_string_equal(s->publication, "pgcdc_shop");
	assert_int_equal(s->shards, 4);
	assert_int_equal(s->stream, 1);
	assert_int_equal(c->slots[0].stream, 0);
	assert_int_equal(s->ntables, 2);
	assert_string_equal(s->tables[0], "public.*");
	assert_string_equal(s->tables[1], "sales.order_*");
	assert_int_equal(s->nsinks, 1);
	assert_string_equal(s->sinks[0], "bus");
	assert_int_equal(s->snapshot_mode, CFG_SNAP_NEVER);	/* from snapshot.mode */

	assert_int_equal(c->nsinks, 4);
	k = &c->sinks[0];
	assert_string_equal(k->name, "lake");
	assert_int_equal(k->type, CFG_SINK_JSONL);
	assert_string_equal(k->dir, "/tmp/pgcdc-test/out");
	assert_int_equal(k->segment_bytes, 4096);
	assert_null(k->conninfo);
	k = &c->sinks[1];
	assert_int_equal(k->type, CFG_SINK_POSTGRES);
	assert_string_equal(k->conninfo, "postgresql://dw/shop?user=pgcdc");
	assert_null(k->dir);
	k = &c->sinks[2];
	assert_string_equal(k->name, "feed-1");
	assert_int_equal(k->type, CFG_SINK_ZMQ);
	assert_string_equal(k->endpoint, "ipc:///tmp/pgcdc-test/run/feed");
	k = &c->sinks[3];
	assert_int_equal(k->type, CFG_SINK_KAFKA);
	assert_string_equal(k->brokers, "k1:9092,k2:9092");
	assert_string_equal(k->topic_prefix, "shop.cdc");

	assert_ptr_equal(cfg_slot_find(c, "shop"), &c->slots[1]);
	assert_ptr_equal(cfg_slot_find(c, "shop_0"), &c->slots[1]);	/* a shard */
	assert_ptr_equal(cfg_slot_find(c, "shop_3"), &c->slots[1]);
	assert_null(cfg_slot_find(c, "shop_4"));
	assert_null(cfg_slot_shard(c, "shop", NULL));	/* not a replication slot */
	assert_ptr_equal(cfg_sink_find(c, "feed-1"), &c->sinks[2]);
	assert_null(cfg_sink_find(c, "feed"));
	cfg_free(c);
}

static void
test_defaults(void **state)
{
	struct cfg *c = load_good("tests/fixtures/cfg/minimal.cfg");

	(void)state;
	assert_string_equal(c->run_dir, "/tmp/pgcdc-test/state/run");
	assert_int_equal(c->log_level, LL_INFO);
	assert_string_equal(c->log_file, "");
	assert_null(c->password_file);
	assert_int_equal(c->snapshot_mode, CFG_SNAP_INITIAL);
	assert_int_equal(c->chunk_rows, 50000);
	assert_int_equal(c->status_interval_ms, 10000);
	assert_int_equal(c->max_unacked_bytes, 16 * MIB);
	assert_int_equal(c->shutdown_timeout, 30);
	assert_int_equal(c->lmdb_map_size, 64 * MIB);
	assert_int_equal(c->nslots, 1);
	assert_string_equal(c->slots[0].publication, "pgcdc_s1");
	assert_int_equal(c->slots[0].shards, 1);
	assert_int_equal(c->slots[0].snapshot_mode, CFG_SNAP_INITIAL);
	assert_int_equal(c->sinks[0].segment_bytes, 64 * MIB);
	assert_null(c->sinks[0].topic_prefix);
	assert_string_equal(c->sinks[1].topic_prefix, "pgcdc");
	cfg_free(c);
}

/* The documented example must stay loadable. */
static void
test_example_config(void **state)
{
	struct cfg *c = load_good("etc/pgcdc.cfg");

	(void)state;
	assert_int_equal(c->nslots, 2);
	assert_int_equal(c->nsinks, 4);
	assert_int_equal(c->slots[1].shards, 4);
	assert_int_equal(c->max_unacked_bytes, 16 * MIB);
	cfg_free(c);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(cfg_snap_mode_name(CFG_SNAP_INITIAL), "initial");
	assert_string_equal(cfg_snap_mode_name(CFG_SNAP_NEVER), "never");
	assert_string_equal(cfg_snap_mode_name(CFG_SNAP_INITIAL_ONLY), "initial_only");
	assert_string_equal(cfg_sink_type_name(CFG_SINK_JSONL), "jsonl");
	assert_string_equal(cfg_sink_type_name(CFG_SINK_POSTGRES), "postgres");
	assert_string_equal(cfg_sink_type_name(CFG_SINK_ZMQ), "zmq");
	assert_string_equal(cfg_sink_type_name(CFG_SINK_KAFKA), "kafka");
}

static void
test_syntax_error(void **state)
{
	char want[300];

	(void)state;
	load_bad("state_dir = \"/tmp/s\";\n"
	    "source = { conninfo = \"x\"; };\n"
	    "slots = ( { name = ; } );\n");
	snprintf(want, sizeof(want), "%s:3: syntax error: ", path);
	assert_true(strncmp(err, want, strlen(want)) == 0);
	assert_int_equal(count_lines(err), 1);
}

static void
test_missing_file(void **state)
{
	(void)state;
	assert_null(cfg_load("tests/fixtures/cfg/no-such.cfg", err, sizeof(err)));
	assert_string_equal(err, "tests/fixtures/cfg/no-such.cfg: cannot read: "
	    "No such file or directory");
	assert_null(cfg_load("tests/fixtures/cfg", err, sizeof(err)));
	assert_non_null(strstr(err, "cannot read: Is a directory"));
}

static void
test_missing_required(void **state)
{
	(void)state;
	load_bad("run_dir = \"/tmp/r\";\n"
	    "source = {\n"
	    "  password_file = \"/p\"; };\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; } );\n"
	    "slots = ( { tables = [ \"public.t\" ]; sinks = [ \"lake\" ]; },\n"
	    "  { name = \"b\"; } );\n");
	assert_line(1, "state_dir: missing required setting");
	assert_line(2, "source.conninfo: missing required setting");
	assert_line(4, "sinks[0].dir: missing required setting");
	assert_line(5, "slots[0].name: missing required setting");
	assert_line(6, "slots[1].tables: missing required setting");
	assert_line(6, "slots[1].sinks: missing required setting");
	assert_int_equal(count_lines(err), 6);

	load_bad("state_dir = \"/tmp/s\";\n");
	assert_line(1, "source: missing required setting");
	assert_line(1, "slots: missing required setting");
	assert_line(1, "sinks: missing required setting");
	assert_int_equal(count_lines(err), 3);
}

static void
test_wrong_type(void **state)
{
	(void)state;
	load_bad("state_dir = 5;\n"
	    "source = \"dbname=x\";\n"
	    "snapshot = { chunk_rows = \"many\"; };\n"
	    "status_interval_ms = 1.5;\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"/o\"; } );\n"
	    "slots = ( { name = \"a\"; tables = \"public.t\"; sinks = [ \"lake\" ];\n"
	    "  shards = \"2\"; }, \"b\" );\n");
	assert_line(1, "state_dir: expected a string");
	assert_error(2, "source", "expected a group");
	assert_line(3, "snapshot.chunk_rows: expected an integer");
	assert_line(4, "status_interval_ms: expected an integer");
	assert_error(7, "slots[1]", "expected a group");

	load_bad(HEAD "slots = (\n"
	    "  { name = \"a\"; tables = \"public.t\"; sinks = [ \"lake\" ];\n"
	    "    shards = \"2\"; publication = true; } );\n");
	assert_error(5, "slots[0].tables", "expected a list of strings");
	assert_line(6, "slots[0].shards: expected an integer");
	assert_line(6, "slots[0].publication: expected a string");
}

static void
test_bad_enum(void **state)
{
	(void)state;
	load_bad(HEAD "log = { level = \"loud\"; };\n"
	    "snapshot = { mode = \"sometimes\"; };\n"
	    "slots = (\n"
	    "  { name = \"a\"; tables = [ \"public.t\" ]; sinks = [ \"lake\" ];\n"
	    "    snapshot_mode = \"initial-only\"; } );\n");
	assert_line(4, "log.level: must be \"error\", \"warn\", \"info\" or \"debug\" "
	    "(got \"loud\")");
	assert_line(5, "snapshot.mode: must be \"initial\", \"never\" or \"initial_only\" "
	    "(got \"sometimes\")");
	assert_error(8, "slots[0].snapshot_mode", "(got \"initial-only\")");

	load_bad("state_dir = \"/tmp/s\";\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "sinks = ( { name = \"lake\"; type = \"s3\"; dir = \"/o\"; } );\n"
	    "slots = (" SLOT_OK ");\n");
	assert_line(3, "sinks[0].type: must be \"jsonl\", \"postgres\", \"zmq\" or \"kafka\" "
	    "(got \"s3\")");
	assert_int_equal(count_lines(err), 1);
}

static void
test_ranges(void **state)
{
	(void)state;
	load_bad(HEAD "status_interval_ms = 50;\n"
	    "lmdb_map_size = 4294967296;\n"
	    "max_unacked_bytes = 0;\n"
	    "snapshot = { chunk_rows = 0; };\n"
	    "shutdown_timeout = -1;\n"
	    "slots = ( { name = \"a\"; shards = 0; tables = [ \"public.t\" ]; sinks = [ \"lake\" ]; } );\n");
	assert_line(4, "status_interval_ms: must be between 100 and 600000 (got 50)");
	/* libconfig would read 4294967296 as 0 without the L suffix. */
	assert_error(5, "lmdb_map_size", "add an L suffix");
	assert_line(6, "max_unacked_bytes: must be at least 1 (got 0)");
	assert_error(7, "snapshot.chunk_rows", "(got 0)");
	assert_error(8, "shutdown_timeout", "(got -1)");
	assert_line(9, "slots[0].shards: must be between 1 and 256 (got 0)");

	load_bad("state_dir = \"/tmp/s\";\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "lmdb_map_size = 1000L;\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"/o\"; segment_bytes = 4095; } );\n"
	    "slots = (" SLOT_OK ");\n");
	assert_line(3, "lmdb_map_size: must be at least 65536 (got 1000)");
	assert_line(4, "sinks[0].segment_bytes: must be at least 4096 (got 4095)");
}

static void
test_duplicate_slot_name(void **state)
{
	(void)state;
	load_bad(HEAD "slots = (\n"
	    "  { name = \"inventory\"; tables = [ \"public.a\" ]; sinks = [ \"lake\" ]; },\n"
	    "  { name = \"inventory\"; publication = \"p2\";\n"
	    "    tables = [ \"public.b\" ]; sinks = [ \"lake\" ]; }\n"
	    ");\n");
	assert_line(6, "slots[1].name: duplicate slot name \"inventory\"");
	assert_int_equal(count_lines(err), 1);
}

static void
test_slot_name_clashes(void **state)
{
	(void)state;
	/* shop with 4 shards owns shop_0..shop_3; both slots default to
	 * publication pgcdc_<name>, and c sets one equal to a's. */
	load_bad(HEAD "slots = (\n"
	    "  { name = \"shop\"; shards = 4; tables = [ \"public.*\" ]; sinks = [ \"lake\" ]; },\n"
	    "  { name = \"shop_3\"; tables = [ \"x.y\" ]; sinks = [ \"lake\" ]; },\n"
	    "  { name = \"shop_4\"; publication = \"pgcdc_shop\"; tables = [ \"x.y\" ];\n"
	    "    sinks = [ \"lake\" ]; }\n"
	    ");\n");
	assert_line(6, "slots[1].name: replication slot \"shop_3\" is also one of slot "
	    "\"shop\" (shards = 4)");
	assert_error(7, "slots[2].publication", "publication \"pgcdc_shop\" is already used "
	    "by slot \"shop\"");
	assert_int_equal(count_lines(err), 2);
}

static void
test_unknown_sink(void **state)
{
	(void)state;
	load_bad(HEAD "slots = (\n"
	    "  { name = \"a\"; tables = [ \"public.t\" ];\n"
	    "    sinks = [ \"lake\",\n"
	    "              \"nope\", \"lake\" ]; }\n"
	    ");\n");
	assert_line(7, "slots[0].sinks[1]: unknown sink \"nope\" (not in sinks)");
	assert_line(7, "slots[0].sinks[2]: sink \"lake\" is listed twice");
	assert_int_equal(count_lines(err), 2);
}

static void
test_unknown_setting(void **state)
{
	(void)state;
	load_bad(HEAD "stat_dir = \"/x\";\n"
	    "log = { levle = \"info\"; };\n"
	    "snapshot = { chunk_size = 10; };\n"
	    "source2 = { };\n"
	    "slots = ( { name = \"a\"; tables = [ \"public.t\" ]; sinks = [ \"lake\" ];\n"
	    "  shard = 2; } );\n");
	assert_line(4, "stat_dir: unknown setting");
	assert_line(5, "log.levle: unknown setting");
	assert_line(6, "snapshot.chunk_size: unknown setting");
	assert_line(7, "source2: unknown setting");
	assert_line(9, "slots[0].shard: unknown setting");
	assert_int_equal(count_lines(err), 5);
	assert_sorted();

	load_bad("state_dir = \"/tmp/s\";\n"
	    "source = { conninfo = \"dbname=x\"; passwd = \"x\"; };\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"/o\";\n"
	    "  conninfo = \"dbname=y\"; directory = \"/o\"; } );\n"
	    "slots = (" SLOT_OK ");\n");
	assert_line(2, "source.passwd: unknown setting");
	assert_line(4, "sinks[0].conninfo: not a setting of jsonl sinks "
	    "(it belongs to postgres sinks)");
	assert_line(4, "sinks[0].directory: unknown setting");
	assert_int_equal(count_lines(err), 3);
}

static void
test_tables(void **state)
{
	(void)state;
	load_bad(HEAD "slots = (\n"
	    "  { name = \"a\"; sinks = [ \"lake\" ];\n"
	    "    tables = ( \"public.ok\", \"customers\",\n"
	    "      \".t\", \"a.b.c\", \"s.\", 5 ); },\n"
	    "  { name = \"b\"; tables = [ ]; sinks = [ \"lake\" ]; }\n"
	    ");\n");
	assert_error(6, "slots[0].tables[1]", "\"customers\" is not schema-qualified");
	assert_error(6, "slots[0].tables[1]", "\"public.customers\"");
	assert_error(7, "slots[0].tables[2]", "schema.table");
	assert_error(7, "slots[0].tables[3]", "schema.table");
	assert_error(7, "slots[0].tables[4]", "schema.table");
	assert_line(7, "slots[0].tables[5]: expected a string");
	assert_line(8, "slots[1].tables: must not be empty");
	assert_int_equal(count_lines(err), 6);
}

static void
test_bad_names(void **state)
{
	(void)state;
	load_bad("state_dir = \"/tmp/s\";\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "sinks = ( { name = \"la ke\"; type = \"zmq\"; endpoint = \"localhost\"; } );\n"
	    "slots = (\n"
	    "  { name = \"Inventory\"; tables = [ \"public.t\" ]; sinks = [ \"x\" ]; },\n"
	    "  { name = \"my-slot\"; tables = [ \"public.t\" ]; sinks = [ \"x\" ]; },\n"
	    "  { name = \"\"; tables = [ \"public.t\" ]; sinks = [ \"x\" ]; },\n"
	    "  { name = \"a123456789a123456789a123456789a123456789a123456789a123456789\";\n"
	    "    shards = 200; tables = [ \"public.t\" ]; sinks = [ \"x\" ]; }\n"
	    ");\n");
	assert_error(3, "sinks[0].name", "invalid sink name \"la ke\"");
	assert_error(3, "sinks[0].endpoint", "not a ZeroMQ endpoint");
	assert_error(5, "slots[0].name", "invalid slot name \"Inventory\"");
	assert_error(6, "slots[1].name", "invalid slot name \"my-slot\"");
	assert_line(7, "slots[2].name: must not be empty");
	/* 60 characters + "_199" (the last of 200 shards) is 64: too long. */
	assert_error(8, "slots[3].name", "too long for shards = 200");
	/* The default publication "pgcdc_" + 60 characters is too long too. */
	assert_error(8, "slots[3].publication", "longer than 63 characters");
}

/* Limits are inclusive: a 63-character slot name, 59 characters with 256
 * shards ("_255" makes 63), the ends of each range. */
static void
test_limits_accepted(void **state)
{
	struct cfg *c;

	(void)state;
	write_cfg(HEAD "status_interval_ms = 600000;\n"
	    "lmdb_map_size = 1048576;\n"
	    "slots = (\n"
	    "  { name = \"a123456789a123456789a123456789a123456789a123456789a123456789abc\";\n"
	    "    publication = \"p1\"; tables = [ \"public.t\" ]; sinks = [ \"lake\" ]; },\n"
	    "  { name = \"b123456789a123456789a123456789a123456789a123456789a12345678\";\n"
	    "    publication = \"p2\"; shards = 256; tables = [ \"*.*\" ]; sinks = [ \"lake\" ]; }\n"
	    ");\n");
	c = load_good(path);
	assert_int_equal(strlen(c->slots[0].name), 63);
	assert_int_equal(c->slots[1].shards, 256);
	assert_int_equal(c->status_interval_ms, 600000);
	assert_int_equal(c->lmdb_map_size, MIB);
	cfg_free(c);

	load_bad(HEAD "slots = (\n"
	    "  { name = \"a123456789a123456789a123456789a123456789a123456789a123456789abcd\";\n"
	    "    publication = \"p1\"; tables = [ \"public.t\" ]; sinks = [ \"lake\" ]; } );\n");
	assert_error(5, "slots[0].name", "invalid slot name");
	assert_int_equal(count_lines(err), 1);
}

static void
test_secrets_not_echoed(void **state)
{
	(void)state;
	load_bad("state_dir = \"/tmp/s\";\n"
	    "source = { conninfo = \"host=db password=hunter2 sslmode\"; };\n"
	    "sinks = ( { name = \"lake\"; type = \"postgres\";\n"
	    "  conninfo = \"postgresql://u:hunter3@h/db?bogus%zz\"; } );\n"
	    "slots = (" SLOT_OK ");\n");
	assert_error(2, "source.conninfo", "not a valid libpq connection string");
	assert_error(4, "sinks[0].conninfo", "not a valid libpq connection string");
	assert_null(strstr(err, "hunter"));
}

static void
test_all_errors_and_truncation(void **state)
{
	char small[40];
	struct cfg *c;

	(void)state;
	load_bad("state_dir = \"\";\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "shutdown_timeout = 0;\n"
	    "status_interval_ms = 0;\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"\"; },\n"
	    "  { name = \"lake\"; type = \"kafka\"; brokers = \"b\"; topic_prefix = \"a/b\"; } );\n"
	    "slots = (" SLOT_OK ");\n");
	assert_line(1, "state_dir: must not be empty");
	assert_error(3, "shutdown_timeout", "(got 0)");
	assert_error(4, "status_interval_ms", "(got 0)");
	assert_line(5, "sinks[0].dir: must not be empty");
	assert_line(6, "sinks[1].name: duplicate sink name \"lake\"");
	assert_error(6, "sinks[1].topic_prefix", "invalid Kafka topic prefix");
	assert_int_equal(count_lines(err), 6);
	assert_sorted();

	/* A short buffer holds a prefix of the text and stays terminated. */
	memset(small, 'x', sizeof(small));
	assert_null(cfg_load(path, small, sizeof(small)));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_true(strncmp(small, err, sizeof(small) - 1) == 0);
	assert_null(cfg_load(path, NULL, 0));

	/* A literal on the line after its name is not taken for a wrapped one. */
	write_cfg(HEAD "lmdb_map_size =\n  2097152;\nslots = (" SLOT_OK ");\n");
	c = load_good(path);
	assert_int_equal(c->lmdb_map_size, 2 * MIB);
	cfg_free(c);
}

/* Who pgcdc runs as and the jsonl output mode (issue 10). */
static void
test_security_settings(void **state)
{
	struct cfg *c;

	(void)state;
	write_cfg(HEAD "slots = (\n" SLOT_OK "\n);\n");
	c = load_good(path);
	assert_null(c->user);
	assert_int_equal(c->allow_root, 0);
	assert_int_equal(c->sinks[0].output_mode, 0600);
	cfg_free(c);
	write_cfg("state_dir = \"/tmp/s\";\nuser = \"pgcdc\";\nallow_root = true;\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"/tmp/o\"; "
	    "output_mode = \"0640\"; } );\nslots = (\n" SLOT_OK "\n);\n");
	c = load_good(path);
	assert_string_equal(c->user, "pgcdc");
	assert_int_equal(c->allow_root, 1);
	assert_int_equal(c->sinks[0].output_mode, 0640);
	cfg_free(c);
	load_bad("state_dir = \"/tmp/s\";\nuser = \"\";\nallow_root = 1;\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "sinks = ( { name = \"lake\"; type = \"jsonl\"; dir = \"/tmp/o\"; "
	    "output_mode = \"0777\"; } );\nslots = (\n" SLOT_OK "\n);\n");
	assert_line(2, "user: must not be empty");
	assert_line(3, "allow_root: expected true or false");
	assert_line(5, "sinks[0].output_mode: must be \"0600\", \"0640\" or \"0644\" (got \"0777\")");
	assert_int_equal(count_lines(err), 3);
}

/* ipc:// endpoints are sockets directly in run_dir (0700), nowhere else. */
static void
test_ipc_in_run_dir(void **state)
{
	static const char *const bad[] = { "ipc:///tmp/feed", "ipc:///r/runx/feed",
	    "ipc:///r/run/", "ipc:///r/run/../feed", "ipc:///r/run/sub/feed" };
	char text[512];
	struct cfg *c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "state_dir = \"/r\"; run_dir = \"/r/run/\";\n"
		    "source = { conninfo = \"dbname=x\"; };\n"
		    "slots = ( { name = \"s\"; tables = [ \"public.t\" ]; sinks = [ \"f\" ]; } );\n"
		    "sinks = ( { name = \"f\"; type = \"zmq\"; endpoint = \"%s\"; } );\n", bad[i]);
		load_bad(text);
		assert_error(4, "sinks[0].endpoint", "is an ipc:// socket outside run_dir");
	}
	write_cfg("state_dir = \"/r\"; run_dir = \"/r/run/\";\n"
	    "source = { conninfo = \"dbname=x\"; };\n"
	    "slots = ( { name = \"s\"; tables = [ \"public.t\" ]; sinks = [ \"f\" ]; } );\n"
	    "sinks = ( { name = \"f\"; type = \"zmq\"; endpoint = \"ipc:///r/run/feed\"; } );\n");
	c = load_good(path);
	cfg_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_config_every_field),
		cmocka_unit_test(test_security_settings),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_bad_enum),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_duplicate_slot_name),
		cmocka_unit_test(test_slot_name_clashes),
		cmocka_unit_test(test_unknown_sink),
		cmocka_unit_test(test_unknown_setting),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_limits_accepted),
		cmocka_unit_test(test_secrets_not_echoed),
		cmocka_unit_test(test_all_errors_and_truncation),
		cmocka_unit_test(test_ipc_in_run_dir),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
