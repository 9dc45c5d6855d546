/*
 * cfg: read the libconfig file into an immutable struct cfg: types, ranges
 * and defaults here, the other rules and the collection of problems in
 * cfg_check.c.  Every problem is reported, not just the first.  The struct
 * owns copies of all strings, so libconfig's tree is gone when cfg_load
 * returns.  Conninfo values are never echoed: they may carry a password.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>
#include <libpq-fe.h>

#include "common/cfg.h"
#include "common/cfg_check.h"
#include "common/log.h"

#define MIB		(1024L * 1024L)
#define MAX_SHARDS	256

enum { STR_REQUIRED = 1, STR_EMPTY_OK = 2 };

static const char *const top_keys[] = { "state_dir", "run_dir", "log", "source",
	"snapshot", "status_interval_ms", "max_unacked_bytes", "shutdown_timeout", "rescan_interval",
	"lmdb_map_size", "metrics", "slots", "sinks", "user", "allow_root", NULL };
static const char *const log_keys[] = { "level", "file", NULL };
static const char *const source_keys[] = { "conninfo", "password_file", NULL };
static const char *const snapshot_keys[] = { "mode", "chunk_rows", NULL };
static const char *const slot_keys[] = { "name", "publication", "tables", "sinks",
	"shards", "snapshot_mode", "publish_via_partition_root", "heartbeat_interval",
	"stream_in_progress", NULL };

static const char *const snap_mode_names[] = {
	[CFG_SNAP_INITIAL] = "initial",
	[CFG_SNAP_NEVER] = "never",
	[CFG_SNAP_INITIAL_ONLY] = "initial_only",
	NULL
};
/* For messages only: log_level_parse() is the parser. */
static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

/* jsonl output_mode: owner only, or readable by pgcdc's group, or by all. */
static const char *const output_mode_names[] = { "0600", "0640", "0644", NULL };
static const int output_modes[] = { 0600, 0640, 0644 };

/* Sink kinds; cfg_check.c knows the settings of each. */
static const char *const sink_type_names[] = {
	[CFG_SINK_JSONL] = "jsonl",
	[CFG_SINK_POSTGRES] = "postgres",
	[CFG_SINK_ZMQ] = "zmq",
	[CFG_SINK_KAFKA] = "kafka",
	NULL
};

/* ---- allocation: failure is fatal, as in buf.c ---- */

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		fatal(1, "cfg: out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal(1, "cfg: out of memory");
	return p;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
xprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal(1, "cfg: out of memory");
	return p;
}

/* ---- helpers of the getters ---- */

/* '"a", "b" or "c"' for messages about enumerations. */
static void
join_names(const char *const *names, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; names[i] != NULL && n < len; i++) {
		const char *sep = i == 0 ? "" : names[i + 1] == NULL ? " or " : ", ";

		n += (size_t)snprintf(buf + n, len - n, "%s\"%s\"", sep, names[i]);
	}
}

/*
 * libconfig 1.5 silently wraps an integer literal past 32 bits unless it has
 * an L suffix (4294967296 reads as 0).  Re-read the literal from its source
 * line; 1 if it differs from the stored value, 0 if equal or not found.
 */
static int
int_literal_wrapped(const config_setting_t *s)
{
	const char *file = config_setting_source_file(s), *name = config_setting_name(s);
	unsigned want = config_setting_source_line(s), n = 0;
	size_t cap = 0, nlen;
	char *line = NULL, *p, *end;
	long long v;
	int wrapped = 0;
	FILE *f;

	if (file == NULL || name == NULL || (f = fopen(file, "r")) == NULL)
		return 0;
	while (n < want && getline(&line, &cap, f) >= 0)
		n++;
	nlen = strlen(name);
	for (p = n == want ? line : NULL; p != NULL && (p = strstr(p, name)) != NULL; p += nlen) {
		if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-'))
			continue;
		end = p + nlen + strspn(p + nlen, " \t");
		if (*end != '=' && *end != ':')
			continue;
		end += 1 + strspn(end + 1, " \t");
		if (!isdigit((unsigned char)end[*end == '-' || *end == '+']))
			break;	/* the literal is not on this line */
		errno = 0;
		if (strncasecmp(end, "0x", 2) == 0)
			v = (long long)strtoull(end, NULL, 16);
		else
			v = strtoll(end, NULL, 10);
		wrapped = errno == ERANGE || v != config_setting_get_int64(s);
		break;
	}
	free(line);
	fclose(f);
	return wrapped;
}

/* ---- typed getters: absent settings give the default ---- */

static const config_setting_t *
member(struct cfg_ld *ld, const config_setting_t *g, const char *name, int required)
{
	const config_setting_t *s;

	if (g == NULL)
		return NULL;	/* the group itself was missing or wrong: said so */
	s = config_setting_get_member(g, name);
	if (s == NULL && required)
		cfg_report(ld, g, name, "missing required setting");
	return s;
}

static const config_setting_t *
get_group(struct cfg_ld *ld, const config_setting_t *g, const char *name, int required,
    const char *const *known)
{
	const config_setting_t *s = member(ld, g, name, required);

	if (s != NULL && !config_setting_is_group(s)) {
		cfg_report(ld, s, NULL, "expected a group: %s = { ... }", name);
		return NULL;
	}
	if (s != NULL)
		cfg_check_known(ld, s, known);
	return s;
}

/* A list of groups ( { ... }, { ... } ), non-empty; NULL if unusable. */
static const config_setting_t *
get_group_list(struct cfg_ld *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = member(ld, g, name, 1);
	int ok = 1;

	if (s == NULL)
		return NULL;
	if (!config_setting_is_list(s)) {
		cfg_report(ld, s, NULL, "expected a list of groups: %s = ( { ... }, ... )", name);
		return NULL;
	}
	if (config_setting_length(s) == 0)
		cfg_report(ld, s, NULL, "must not be empty");
	for (int i = 0; i < config_setting_length(s); i++) {
		if (!config_setting_is_group(config_setting_get_elem(s, i))) {
			cfg_report(ld, config_setting_get_elem(s, i), NULL, "expected a group { ... }");
			ok = 0;
		}
	}
	return ok ? s : NULL;
}

static char *
get_str(struct cfg_ld *ld, const config_setting_t *g, const char *name, int flags,
    const char *def)
{
	const config_setting_t *s = member(ld, g, name, flags & STR_REQUIRED);
	const char *v;

	if (s == NULL)
		return def ? xstrdup(def) : NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_report(ld, s, NULL, "expected a string");
		return NULL;
	}
	v = config_setting_get_string(s);
	if (v[0] == '\0' && !(flags & STR_EMPTY_OK)) {
		cfg_report(ld, s, NULL, "must not be empty");
		return NULL;
	}
	return xstrdup(v);
}

/* A libpq connection string: checked with libpq, never echoed. */
static char *
get_conninfo(struct cfg_ld *ld, const config_setting_t *g, const char *name)
{
	char *v = get_str(ld, g, name, STR_REQUIRED, NULL), *errmsg = NULL;
	PQconninfoOption *opts;

	if (v == NULL)
		return NULL;
	if ((opts = PQconninfoParse(v, &errmsg)) == NULL) {
		/* libpq's message may quote parts of the value: leave it out. */
		cfg_report(ld, g, name, "not a valid libpq connection string "
		    "(value not shown, it may hold a password)");
		PQfreemem(errmsg);
		free(v);
		return NULL;
	}
	PQconninfoFree(opts);
	return v;
}

static long
get_long(struct cfg_ld *ld, const config_setting_t *g, const char *name, long def,
    long min, long max)
{
	const config_setting_t *s = member(ld, g, name, 0);
	long long v;

	if (s == NULL)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		cfg_report(ld, s, NULL, "expected an integer");
		return def;
	}
	if (config_setting_type(s) == CONFIG_TYPE_INT && int_literal_wrapped(s)) {
		cfg_report(ld, s, NULL, "value does not fit in 32 bits: "
		    "add an L suffix (e.g. 4294967296L)");
		return def;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		if (max == LONG_MAX)
			cfg_report(ld, s, NULL, "must be at least %ld (got %lld)", min, v);
		else
			cfg_report(ld, s, NULL, "must be between %ld and %ld (got %lld)", min, max, v);
		return def;
	}
	return (long)v;
}

static int
get_bool(struct cfg_ld *ld, const config_setting_t *g, const char *name, int def)
{
	const config_setting_t *s = member(ld, g, name, 0);

	if (s == NULL)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cfg_report(ld, s, NULL, "expected true or false");
		return def;
	}
	return config_setting_get_bool(s);
}

static void
report_choices(struct cfg_ld *ld, const config_setting_t *g, const char *name,
    const char *const *names, const char *got)
{
	char list[128];

	join_names(names, list, sizeof(list));
	cfg_report(ld, g, name, "must be %s (got \"%s\")", list, got);
}

/* One of names (index returned); def when absent, -1 required and absent. */
static int
get_enum(struct cfg_ld *ld, const config_setting_t *g, const char *name,
    const char *const *names, int def)
{
	char *v = get_str(ld, g, name, def < 0 ? STR_REQUIRED : 0, NULL);
	int r = -1;

	if (v == NULL)
		return def;
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(v, names[i]) == 0)
			r = i;
	if (r < 0)
		report_choices(ld, g, name, names, v);
	free(v);
	return r < 0 ? def : r;
}

static int
get_log_level(struct cfg_ld *ld, const config_setting_t *g)
{
	char *v = get_str(ld, g, "level", 0, NULL);
	int r = LL_INFO;

	if (v != NULL && (r = log_level_parse(v)) < 0) {
		report_choices(ld, g, "level", log_level_names, v);
		r = LL_INFO;
	}
	free(v);
	return r;
}

/* A non-empty list or array of strings; elements that are not strings are
 * reported and left NULL. */
static char **
get_strlist(struct cfg_ld *ld, const config_setting_t *g, const char *name, size_t *n)
{
	const config_setting_t *s = member(ld, g, name, 1);
	char **v;

	*n = 0;
	if (s == NULL)
		return NULL;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_report(ld, s, NULL, "expected a list of strings: %s = [ \"...\", ... ]", name);
		return NULL;
	}
	if (config_setting_length(s) == 0) {
		cfg_report(ld, s, NULL, "must not be empty");
		return NULL;
	}
	*n = (size_t)config_setting_length(s);
	v = xcalloc(*n, sizeof(*v));
	for (size_t i = 0; i < *n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) == CONFIG_TYPE_STRING)
			v[i] = xstrdup(config_setting_get_string(e));
		else
			cfg_report(ld, e, NULL, "expected a string");
	}
	return v;
}

/* ---- sections ---- */

static void
load_globals(struct cfg_ld *ld, const config_setting_t *root)
{
	struct cfg *c = ld->cfg;
	const config_setting_t *g;

	cfg_check_known(ld, root, top_keys);
	c->state_dir = get_str(ld, root, "state_dir", STR_REQUIRED, NULL);
	c->run_dir = get_str(ld, root, "run_dir", 0, NULL);
	if (c->run_dir == NULL && c->state_dir != NULL)
		c->run_dir = xprintf("%s/run", c->state_dir);

	g = get_group(ld, root, "log", 0, log_keys);
	c->log_level = get_log_level(ld, g);
	c->log_file = get_str(ld, g, "file", STR_EMPTY_OK, "");

	g = get_group(ld, root, "source", 1, source_keys);
	c->conninfo = get_conninfo(ld, g, "conninfo");
	c->password_file = get_str(ld, g, "password_file", 0, NULL);

	g = get_group(ld, root, "snapshot", 0, snapshot_keys);
	c->snapshot_mode = get_enum(ld, g, "mode", snap_mode_names, CFG_SNAP_INITIAL);
	c->chunk_rows = get_long(ld, g, "chunk_rows", 50000, 1, 100000000);

	c->status_interval_ms = (int)get_long(ld, root, "status_interval_ms", 10000, 100, 600000);
	c->rescan_interval = (int)get_long(ld, root, "rescan_interval", 0, 0, 86400);
	c->max_unacked_bytes = get_long(ld, root, "max_unacked_bytes", 16 * MIB, 1, LONG_MAX);
	c->shutdown_timeout = (int)get_long(ld, root, "shutdown_timeout", 30, 1, 86400);
	c->lmdb_map_size = get_long(ld, root, "lmdb_map_size", 64 * MIB, 64 * 1024, LONG_MAX);
	c->metrics = get_str(ld, root, "metrics", STR_EMPTY_OK, NULL);
	c->user = get_str(ld, root, "user", 0, NULL);
	c->allow_root = get_bool(ld, root, "allow_root", 0);
}

static void
load_slot(struct cfg_ld *ld, const config_setting_t *g, struct cfg_slot *s)
{
	cfg_check_known(ld, g, slot_keys);
	s->name = get_str(ld, g, "name", STR_REQUIRED, NULL);
	s->shards = (int)get_long(ld, g, "shards", 1, 1, MAX_SHARDS);
	if (s->name != NULL)
		cfg_check_slot_name(ld, g, s);
	s->publication = get_str(ld, g, "publication", 0, NULL);
	if (member(ld, g, "publication", 0) == NULL && s->name != NULL)
		s->publication = xprintf("pgcdc_%s", s->name);
	cfg_check_publication(ld, g, s);
	s->tables = get_strlist(ld, g, "tables", &s->ntables);
	cfg_check_tables(ld, g, s);
	s->sinks = get_strlist(ld, g, "sinks", &s->nsinks);
	s->snapshot_mode = get_enum(ld, g, "snapshot_mode", snap_mode_names,
	    ld->cfg->snapshot_mode);
	s->via_root = get_bool(ld, g, "publish_via_partition_root", 0);
	s->heartbeat_interval = (int)get_long(ld, g, "heartbeat_interval", 0, 0, 86400);
	s->stream = get_bool(ld, g, "stream_in_progress", 0);
}

static void
load_sink(struct cfg_ld *ld, const config_setting_t *g, struct cfg_sink *s)
{
	int type;

	s->name = get_str(ld, g, "name", STR_REQUIRED, NULL);
	cfg_check_sink_name(ld, g, s);
	type = get_enum(ld, g, "type", sink_type_names, -1);
	cfg_check_sink_keys(ld, g, type);
	s->type = type < 0 ? CFG_SINK_JSONL : (enum cfg_sink_type)type;
	s->transactions = get_bool(ld, g, "transactions", 0);
	switch (type) {
	case CFG_SINK_JSONL:
		s->dir = get_str(ld, g, "dir", STR_REQUIRED, NULL);
		s->segment_bytes = get_long(ld, g, "segment_bytes", 64 * MIB, 4096, LONG_MAX);
		s->output_mode = output_modes[get_enum(ld, g, "output_mode", output_mode_names, 0)];
		break;
	case CFG_SINK_POSTGRES:
		s->conninfo = get_conninfo(ld, g, "conninfo");
		break;
	case CFG_SINK_ZMQ:
		s->endpoint = get_str(ld, g, "endpoint", STR_REQUIRED, NULL);
		s->curve_secret_key_file = get_str(ld, g, "curve_secret_key_file", 0, NULL);
		if (s->curve_secret_key_file != NULL || member(ld, g, "curve_allowed_clients", 0))
			s->curve_allowed_clients = get_strlist(ld, g, "curve_allowed_clients",
			    &s->ncurve_allowed_clients);
		break;
	case CFG_SINK_KAFKA:
		s->brokers = get_str(ld, g, "brokers", STR_REQUIRED, NULL);
		s->topic_prefix = get_str(ld, g, "topic_prefix", 0, "pgcdc");
		break;
	}
	cfg_check_sink_values(ld, g, s);
}

static void
load_lists(struct cfg_ld *ld, const config_setting_t *root)
{
	struct cfg *c = ld->cfg;

	if ((ld->sinks = get_group_list(ld, root, "sinks")) != NULL) {
		c->nsinks = (size_t)config_setting_length(ld->sinks);
		c->sinks = xcalloc(c->nsinks, sizeof(*c->sinks));
		for (size_t i = 0; i < c->nsinks; i++)
			load_sink(ld, config_setting_get_elem(ld->sinks, (unsigned)i), &c->sinks[i]);
	}
	if ((ld->slots = get_group_list(ld, root, "slots")) != NULL) {
		c->nslots = (size_t)config_setting_length(ld->slots);
		c->slots = xcalloc(c->nslots, sizeof(*c->slots));
		for (size_t i = 0; i < c->nslots; i++)
			load_slot(ld, config_setting_get_elem(ld->slots, (unsigned)i), &c->slots[i]);
	}
	cfg_check_cross(ld);
}

/* ---- reading the file ---- */

/* Parse path into lc; 0, or -1 with the reason reported. */
static int
read_config(struct cfg_ld *ld, config_t *lc)
{
	struct stat st;
	FILE *f;
	int rc;

	if ((f = fopen(ld->path, "r")) == NULL) {
		cfg_emit(ld, 0, "%s: cannot read: %s", ld->path, strerror(errno));
		return -1;
	}
	rc = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode) ? -1 : 0;
	fclose(f);
	if (rc < 0) {
		cfg_emit(ld, 0, "%s: cannot read: %s", ld->path, strerror(EISDIR));
		return -1;
	}
	if (config_read_file(lc, ld->path) == CONFIG_TRUE)
		return 0;
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
		cfg_emit(ld, 0, "%s: cannot read: %s", config_error_file(lc) ? config_error_file(lc) :
		    ld->path, config_error_text(lc));
	else
		cfg_emit(ld, 0, "%s:%d: syntax error: %s", config_error_file(lc) ?
		    config_error_file(lc) : ld->path, config_error_line(lc), config_error_text(lc));
	return -1;
}

struct cfg *
cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg_ld ld = { .path = path };
	config_t lc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	ld.cfg = xcalloc(1, sizeof(*ld.cfg));
	ld.cfg->path = xstrdup(path);
	config_init(&lc);
	if (read_config(&ld, &lc) == 0) {
		load_globals(&ld, config_root_setting(&lc));
		load_lists(&ld, config_root_setting(&lc));
	}
	config_destroy(&lc);
	cfg_flush_msgs(&ld, err, errlen);
	if (ld.nmsgs > 0) {
		cfg_free(ld.cfg);
		return NULL;
	}
	return ld.cfg;
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void
cfg_free(struct cfg *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nslots; i++) {
		struct cfg_slot *s = &cfg->slots[i];

		free(s->name);
		free(s->publication);
		free_strv(s->tables, s->ntables);
		free_strv(s->sinks, s->nsinks);
	}
	for (size_t i = 0; i < cfg->nsinks; i++) {
		struct cfg_sink *s = &cfg->sinks[i];

		free(s->name);
		free(s->dir);
		free(s->conninfo);
		free(s->endpoint);
		free(s->curve_secret_key_file);
		free_strv(s->curve_allowed_clients, s->ncurve_allowed_clients);
		free(s->brokers);
		free(s->topic_prefix);
	}
	free(cfg->slots);
	free(cfg->sinks);
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->run_dir);
	free(cfg->metrics);
	free(cfg->user);
	free(cfg->log_file);
	free(cfg->conninfo);
	free(cfg->password_file);
	free(cfg);
}

int
cfg_slot_owns(const struct cfg_slot *s, const char *n)
{
	size_t len = strlen(s->name);
	char *end;
	long i;

	if (s->shards == 1)
		return strcmp(s->name, n) == 0 ? 0 : -1;
	if (strncmp(s->name, n, len) != 0 || n[len] != '_' ||
	    n[len + 1] < '0' || n[len + 1] > '9' || (n[len + 1] == '0' && n[len + 2] != '\0'))
		return -1;
	i = strtol(n + len + 1, &end, 10);
	return *end == '\0' && i < s->shards ? (int)i : -1;
}

void
cfg_slot_name(const struct cfg_slot *s, int shard, char *buf, size_t len)
{
	if (s->shards == 1)
		snprintf(buf, len, "%s", s->name);
	else
		snprintf(buf, len, "%s_%d", s->name, shard);
}

void
cfg_slot_publication(const struct cfg_slot *s, int shard, char *buf, size_t len)
{
	if (s->shards == 1)
		snprintf(buf, len, "%s", s->publication);
	else
		snprintf(buf, len, "%s_%d", s->publication, shard);
}

const struct cfg_slot *
cfg_slot_shard(const struct cfg *cfg, const char *name, int *shard)
{
	for (size_t i = 0; i < cfg->nslots; i++) {
		int k;

		if (cfg->slots[i].name != NULL && (k = cfg_slot_owns(&cfg->slots[i], name)) >= 0) {
			if (shard != NULL)
				*shard = k;
			return &cfg->slots[i];
		}
	}
	return NULL;
}

const struct cfg_slot *
cfg_slot_find(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nslots; i++)
		if (cfg->slots[i].name != NULL && strcmp(cfg->slots[i].name, name) == 0)
			return &cfg->slots[i];
	return cfg_slot_shard(cfg, name, NULL);
}

const struct cfg_sink *
cfg_sink_find(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nsinks; i++)
		if (cfg->sinks[i].name != NULL && strcmp(cfg->sinks[i].name, name) == 0)
			return &cfg->sinks[i];
	return NULL;
}

const char *
cfg_snap_mode_name(enum cfg_snap_mode m)
{
	return (unsigned)m <= CFG_SNAP_INITIAL_ONLY ? snap_mode_names[m] : "?";
}

const char *
cfg_sink_type_name(enum cfg_sink_type t)
{
	return (unsigned)t <= CFG_SINK_KAFKA ? sink_type_names[t] : "?";
}
