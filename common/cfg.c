/*
 * cfg: load the libconfig file into an immutable struct cfg and validate it.
 * Every problem is collected, not just the first, as "file:line: path: msg";
 * a missing setting points at the line of its enclosing group.  The struct
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
#include "common/log.h"

#define MIB		(1024L * 1024L)
#define NAME_MAX_LEN	63	/* PostgreSQL's NAMEDATALEN - 1 */
#define MAX_SHARDS	256

/* Character sets of names; slot names become replication slot names. */
#define SLOT_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_"
#define SINK_CHARS	SLOT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ-"
#define TOPIC_CHARS	SINK_CHARS "."

/* Loader state: the struct being filled and the error text collected. */
struct ld {
	const char	*path;
	struct cfg	*cfg;
	const config_setting_t *slots;	/* the "slots" list, if usable */
	const config_setting_t *sinks;	/* the "sinks" list, if usable */
	struct msg	*msgs;		/* problems found, in order of finding */
	size_t		 nmsgs;
	size_t		 capmsgs;
};

/* One problem; shown sorted by line, so in the order of the file. */
struct msg {
	unsigned	 line;
	size_t		 seq;
	char		*text;
};

enum { STR_REQUIRED = 1, STR_EMPTY_OK = 2 };

static const char *const top_keys[] = { "state_dir", "run_dir", "log", "source",
	"snapshot", "status_interval_ms", "max_unacked_bytes", "shutdown_timeout",
	"lmdb_map_size", "slots", "sinks", NULL };
static const char *const log_keys[] = { "level", "file", NULL };
static const char *const source_keys[] = { "conninfo", "password_file", NULL };
static const char *const snapshot_keys[] = { "mode", "chunk_rows", NULL };
static const char *const slot_keys[] = { "name", "publication", "tables", "sinks",
	"shards", "snapshot_mode", NULL };

static const char *const snap_mode_names[] = {
	[CFG_SNAP_INITIAL] = "initial",
	[CFG_SNAP_NEVER] = "never",
	[CFG_SNAP_INITIAL_ONLY] = "initial_only",
	NULL
};
/* For messages only: log_level_parse() is the parser. */
static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

/* Sink kinds and the settings that belong to each, besides name and type. */
static const char *const sink_type_names[] = {
	[CFG_SINK_JSONL] = "jsonl",
	[CFG_SINK_POSTGRES] = "postgres",
	[CFG_SINK_ZMQ] = "zmq",
	[CFG_SINK_KAFKA] = "kafka",
	NULL
};
static const char *const sink_type_keys[][3] = {
	[CFG_SINK_JSONL] = { "dir", "segment_bytes", NULL },
	[CFG_SINK_POSTGRES] = { "conninfo", NULL },
	[CFG_SINK_ZMQ] = { "endpoint", NULL },
	[CFG_SINK_KAFKA] = { "brokers", "topic_prefix", NULL },
};
#define NSINK_TYPES	((int)(sizeof(sink_type_keys) / sizeof(sink_type_keys[0])))

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

/* ---- error collection ---- */

static void emit(struct ld *ld, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
emit(struct ld *ld, unsigned line, const char *fmt, ...)
{
	struct msg *m;
	va_list ap;

	if (ld->nmsgs == ld->capmsgs) {
		ld->capmsgs = ld->capmsgs ? 2 * ld->capmsgs : 16;
		m = realloc(ld->msgs, ld->capmsgs * sizeof(*m));
		if (m == NULL)
			fatal(1, "cfg: out of memory");
		ld->msgs = m;
	}
	m = &ld->msgs[ld->nmsgs];
	m->line = line;
	m->seq = ld->nmsgs++;
	va_start(ap, fmt);
	if (vasprintf(&m->text, fmt, ap) < 0)
		fatal(1, "cfg: out of memory");
	va_end(ap);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Write the problems to err, one per line, cut at errlen; free them. */
static void
flush_msgs(struct ld *ld, char *err, size_t errlen)
{
	size_t used = 0;
	int n;

	if (ld->nmsgs > 1)
		qsort(ld->msgs, ld->nmsgs, sizeof(*ld->msgs), msg_cmp);
	for (size_t i = 0; i < ld->nmsgs; i++) {
		if (err != NULL && used + 1 < errlen) {
			n = snprintf(err + used, errlen - used, "%s%s", i ? "\n" : "",
			    ld->msgs[i].text);
			used += (size_t)n < errlen - used ? (size_t)n : errlen - used - 1;
		}
		free(ld->msgs[i].text);
	}
	free(ld->msgs);
}

/* "slots[1].tables[0]" for a setting; "" for the root. */
static void
setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;

	buf[0] = '\0';
	if (parent == NULL)
		return;
	setting_path(parent, buf, len);
	n = strlen(buf);
	if (config_setting_name(s) != NULL)
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
	else
		snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
}

/*
 * Report a problem with setting `at`, or with its member `child` when child
 * is not NULL.  The line is the member's when it exists, else the group's.
 */
static void report(struct ld *ld, const config_setting_t *at, const char *child,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void
report(struct ld *ld, const config_setting_t *at, const char *child,
    const char *fmt, ...)
{
	const config_setting_t *line_of = at;
	char where[256], msg[512];
	const char *file;
	unsigned line;
	size_t n;
	va_list ap;

	setting_path(at, where, sizeof(where));
	if (child != NULL) {
		n = strlen(where);
		snprintf(where + n, sizeof(where) - n, "%s%s", n ? "." : "", child);
		if (config_setting_get_member(at, child) != NULL)
			line_of = config_setting_get_member(at, child);
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	file = config_setting_source_file(line_of);
	line = config_setting_source_line(line_of) ? config_setting_source_line(line_of) : 1;
	emit(ld, line, "%s:%u: %s: %s", file ? file : ld->path, line, where, msg);
}

/* ---- small predicates ---- */

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
name_ok(const char *s, const char *chars, size_t maxlen)
{
	size_t n = strlen(s);

	return n >= 1 && n <= maxlen && strspn(s, chars) == n;
}

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
member(struct ld *ld, const config_setting_t *g, const char *name, int required)
{
	const config_setting_t *s;

	if (g == NULL)
		return NULL;	/* the group itself was missing or wrong: said so */
	s = config_setting_get_member(g, name);
	if (s == NULL && required)
		report(ld, g, name, "missing required setting");
	return s;
}

static void
check_known(struct ld *ld, const config_setting_t *g, const char *const *known)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);

		if (!in_list(config_setting_name(s), known))
			report(ld, s, NULL, "unknown setting");
	}
}

static const config_setting_t *
get_group(struct ld *ld, const config_setting_t *g, const char *name, int required,
    const char *const *known)
{
	const config_setting_t *s = member(ld, g, name, required);

	if (s != NULL && !config_setting_is_group(s)) {
		report(ld, s, NULL, "expected a group: %s = { ... }", name);
		return NULL;
	}
	if (s != NULL)
		check_known(ld, s, known);
	return s;
}

/* A list of groups ( { ... }, { ... } ), non-empty; NULL if unusable. */
static const config_setting_t *
get_group_list(struct ld *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = member(ld, g, name, 1);
	int ok = 1;

	if (s == NULL)
		return NULL;
	if (!config_setting_is_list(s)) {
		report(ld, s, NULL, "expected a list of groups: %s = ( { ... }, ... )", name);
		return NULL;
	}
	if (config_setting_length(s) == 0)
		report(ld, s, NULL, "must not be empty");
	for (int i = 0; i < config_setting_length(s); i++) {
		if (!config_setting_is_group(config_setting_get_elem(s, i))) {
			report(ld, config_setting_get_elem(s, i), NULL, "expected a group { ... }");
			ok = 0;
		}
	}
	return ok ? s : NULL;
}

static char *
get_str(struct ld *ld, const config_setting_t *g, const char *name, int flags,
    const char *def)
{
	const config_setting_t *s = member(ld, g, name, flags & STR_REQUIRED);
	const char *v;

	if (s == NULL)
		return def ? xstrdup(def) : NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		report(ld, s, NULL, "expected a string");
		return NULL;
	}
	v = config_setting_get_string(s);
	if (v[0] == '\0' && !(flags & STR_EMPTY_OK)) {
		report(ld, s, NULL, "must not be empty");
		return NULL;
	}
	return xstrdup(v);
}

/* A libpq connection string: checked with libpq, never echoed. */
static char *
get_conninfo(struct ld *ld, const config_setting_t *g, const char *name)
{
	char *v = get_str(ld, g, name, STR_REQUIRED, NULL), *errmsg = NULL;
	PQconninfoOption *opts;

	if (v == NULL)
		return NULL;
	if ((opts = PQconninfoParse(v, &errmsg)) == NULL) {
		/* libpq's message may quote parts of the value: leave it out. */
		report(ld, g, name, "not a valid libpq connection string "
		    "(value not shown, it may hold a password)");
		PQfreemem(errmsg);
		free(v);
		return NULL;
	}
	PQconninfoFree(opts);
	return v;
}

static long
get_long(struct ld *ld, const config_setting_t *g, const char *name, long def,
    long min, long max)
{
	const config_setting_t *s = member(ld, g, name, 0);
	long long v;

	if (s == NULL)
		return def;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		report(ld, s, NULL, "expected an integer");
		return def;
	}
	if (config_setting_type(s) == CONFIG_TYPE_INT && int_literal_wrapped(s)) {
		report(ld, s, NULL, "value does not fit in 32 bits: "
		    "add an L suffix (e.g. 4294967296L)");
		return def;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		if (max == LONG_MAX)
			report(ld, s, NULL, "must be at least %ld (got %lld)", min, v);
		else
			report(ld, s, NULL, "must be between %ld and %ld (got %lld)", min, max, v);
		return def;
	}
	return (long)v;
}

static void
report_choices(struct ld *ld, const config_setting_t *g, const char *name,
    const char *const *names, const char *got)
{
	char list[128];

	join_names(names, list, sizeof(list));
	report(ld, g, name, "must be %s (got \"%s\")", list, got);
}

/* One of names (index returned); def when absent, -1 required and absent. */
static int
get_enum(struct ld *ld, const config_setting_t *g, const char *name,
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
get_log_level(struct ld *ld, const config_setting_t *g)
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
get_strlist(struct ld *ld, const config_setting_t *g, const char *name, size_t *n)
{
	const config_setting_t *s = member(ld, g, name, 1);
	char **v;

	*n = 0;
	if (s == NULL)
		return NULL;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		report(ld, s, NULL, "expected a list of strings: %s = [ \"...\", ... ]", name);
		return NULL;
	}
	if (config_setting_length(s) == 0) {
		report(ld, s, NULL, "must not be empty");
		return NULL;
	}
	*n = (size_t)config_setting_length(s);
	v = xcalloc(*n, sizeof(*v));
	for (size_t i = 0; i < *n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) == CONFIG_TYPE_STRING)
			v[i] = xstrdup(config_setting_get_string(e));
		else
			report(ld, e, NULL, "expected a string");
	}
	return v;
}

/* ---- sections ---- */

static void
load_globals(struct ld *ld, const config_setting_t *root)
{
	struct cfg *c = ld->cfg;
	const config_setting_t *g;

	check_known(ld, root, top_keys);
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
	c->max_unacked_bytes = get_long(ld, root, "max_unacked_bytes", 64 * MIB, 1, LONG_MAX);
	c->shutdown_timeout = (int)get_long(ld, root, "shutdown_timeout", 30, 1, 86400);
	c->lmdb_map_size = get_long(ld, root, "lmdb_map_size", 64 * MIB, MIB, LONG_MAX);
}

static void
check_table(struct ld *ld, const config_setting_t *e, const char *t)
{
	const char *dot = strchr(t, '.');

	if (dot == NULL)
		report(ld, e, NULL, "table \"%s\" is not schema-qualified: "
		    "write it as \"schema.table\", e.g. \"public.%s\"", t, t);
	else if (dot == t || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
		report(ld, e, NULL, "\"%s\" is not of the form \"schema.table\" "
		    "(either part may use * as a wildcard)", t);
	else if (dot - t > NAME_MAX_LEN || strlen(dot + 1) > NAME_MAX_LEN)
		report(ld, e, NULL, "\"%s\": schema and table names have at most %d "
		    "characters", t, NAME_MAX_LEN);
}

static void
check_slot_name(struct ld *ld, const config_setting_t *g, const struct cfg_slot *s)
{
	char shard[16];
	int n;

	if (!name_ok(s->name, SLOT_CHARS, NAME_MAX_LEN)) {
		report(ld, g, "name", "invalid slot name \"%s\": use 1 to %d characters "
		    "from a-z, 0-9 and _ (it names a replication slot)", s->name, NAME_MAX_LEN);
		return;
	}
	n = snprintf(shard, sizeof(shard), "_%d", s->shards - 1);
	if (s->shards > 1 && strlen(s->name) + (size_t)n > NAME_MAX_LEN)
		report(ld, g, "name", "slot name \"%s\" is too long for shards = %d: "
		    "\"%s%s\" has more than %d characters", s->name, s->shards,
		    s->name, shard, NAME_MAX_LEN);
}

static void
load_slot(struct ld *ld, const config_setting_t *g, struct cfg_slot *s)
{
	const config_setting_t *tables;

	check_known(ld, g, slot_keys);
	s->name = get_str(ld, g, "name", STR_REQUIRED, NULL);
	s->shards = (int)get_long(ld, g, "shards", 1, 1, MAX_SHARDS);
	if (s->name != NULL)
		check_slot_name(ld, g, s);
	s->publication = get_str(ld, g, "publication", 0, NULL);
	if (member(ld, g, "publication", 0) == NULL && s->name != NULL) {
		s->publication = xprintf("pgcdc_%s", s->name);
		if (strlen(s->publication) > NAME_MAX_LEN)
			report(ld, g, "publication", "the default \"%s\" is longer than %d "
			    "characters: set publication", s->publication, NAME_MAX_LEN);
	} else if (s->publication != NULL && !name_ok(s->publication, SINK_CHARS, NAME_MAX_LEN)) {
		report(ld, g, "publication", "invalid publication name \"%s\": use 1 to %d "
		    "characters from A-Z, a-z, 0-9, _ and -", s->publication, NAME_MAX_LEN);
	}
	s->tables = get_strlist(ld, g, "tables", &s->ntables);
	tables = config_setting_get_member(g, "tables");
	for (size_t i = 0; i < s->ntables; i++)
		if (s->tables[i] != NULL)
			check_table(ld, config_setting_get_elem(tables, (unsigned)i), s->tables[i]);
	s->sinks = get_strlist(ld, g, "sinks", &s->nsinks);
	s->snapshot_mode = get_enum(ld, g, "snapshot_mode", snap_mode_names,
	    ld->cfg->snapshot_mode);
}

/* Settings of other sink types are errors too: they would be ignored. */
static void
check_sink_keys(struct ld *ld, const config_setting_t *g, int type)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *key = config_setting_name(s);
		int owner = -1;

		if (strcmp(key, "name") == 0 || strcmp(key, "type") == 0)
			continue;
		for (int t = 0; t < NSINK_TYPES && owner < 0; t++)
			if (in_list(key, sink_type_keys[t]))
				owner = t;
		if (owner < 0)
			report(ld, s, NULL, "unknown setting");
		else if (type >= 0 && owner != type)
			report(ld, s, NULL, "not a setting of %s sinks (it belongs to %s sinks)",
			    sink_type_names[type], sink_type_names[owner]);
	}
}

static void
load_sink(struct ld *ld, const config_setting_t *g, struct cfg_sink *s)
{
	int type;

	s->name = get_str(ld, g, "name", STR_REQUIRED, NULL);
	if (s->name != NULL && !name_ok(s->name, SINK_CHARS, NAME_MAX_LEN))
		report(ld, g, "name", "invalid sink name \"%s\": use 1 to %d characters "
		    "from A-Z, a-z, 0-9, _ and -", s->name, NAME_MAX_LEN);
	type = get_enum(ld, g, "type", sink_type_names, -1);
	check_sink_keys(ld, g, type);
	s->type = type < 0 ? CFG_SINK_JSONL : (enum cfg_sink_type)type;
	switch (type) {
	case CFG_SINK_JSONL:
		s->dir = get_str(ld, g, "dir", STR_REQUIRED, NULL);
		s->segment_bytes = get_long(ld, g, "segment_bytes", 64 * MIB, 4096, LONG_MAX);
		break;
	case CFG_SINK_POSTGRES:
		s->conninfo = get_conninfo(ld, g, "conninfo");
		break;
	case CFG_SINK_ZMQ:
		s->endpoint = get_str(ld, g, "endpoint", STR_REQUIRED, NULL);
		if (s->endpoint != NULL && strstr(s->endpoint, "://") == NULL)
			report(ld, g, "endpoint", "\"%s\" is not a ZeroMQ endpoint "
			    "(e.g. \"tcp://127.0.0.1:5600\")", s->endpoint);
		break;
	case CFG_SINK_KAFKA:
		s->brokers = get_str(ld, g, "brokers", STR_REQUIRED, NULL);
		s->topic_prefix = get_str(ld, g, "topic_prefix", 0, "pgcdc");
		if (s->topic_prefix != NULL && !name_ok(s->topic_prefix, TOPIC_CHARS, 200))
			report(ld, g, "topic_prefix", "invalid Kafka topic prefix \"%s\": use "
			    "A-Z, a-z, 0-9, '.', '_' and '-'", s->topic_prefix);
		break;
	}
}

/* ---- checks across slots and sinks ---- */

/* Is n one of the replication slots that s stands for (s, or s_0..s_{N-1})? */
static int
slot_owns(const struct cfg_slot *s, const char *n)
{
	size_t len = strlen(s->name);
	char *end;
	long i;

	if (s->shards == 1)
		return strcmp(s->name, n) == 0;
	if (strncmp(s->name, n, len) != 0 || n[len] != '_' ||
	    n[len + 1] < '0' || n[len + 1] > '9' || (n[len + 1] == '0' && n[len + 2] != '\0'))
		return 0;
	i = strtol(n + len + 1, &end, 10);
	return *end == '\0' && i < s->shards;
}

/* A replication slot both a and b would use, written to buf; 0 if none. */
static int
slots_overlap(const struct cfg_slot *a, const struct cfg_slot *b, char *buf, size_t len)
{
	if (b->shards == 1) {
		snprintf(buf, len, "%s", b->name);
		return slot_owns(a, buf);
	}
	for (int i = 0; i < b->shards; i++) {
		snprintf(buf, len, "%s_%d", b->name, i);
		if (slot_owns(a, buf))
			return 1;
	}
	return 0;
}

static void
check_slot_pair(struct ld *ld, const config_setting_t *g, const struct cfg_slot *a,
    const struct cfg_slot *b)
{
	char both[NAME_MAX_LEN + 16];

	if (strcmp(a->name, b->name) == 0)
		report(ld, g, "name", "duplicate slot name \"%s\"", b->name);
	else if (slots_overlap(a, b, both, sizeof(both)))
		report(ld, g, "name", "replication slot \"%s\" is also one of slot \"%s\" "
		    "(shards = %d)", both, a->name, a->shards);
	if (strcmp(a->name, b->name) != 0 && a->publication != NULL &&
	    b->publication != NULL && strcmp(a->publication, b->publication) == 0)
		report(ld, g, "publication", "publication \"%s\" is already used by slot "
		    "\"%s\": every slot needs its own", b->publication, a->name);
}

static void
check_slot_sinks(struct ld *ld, const config_setting_t *g, const struct cfg_slot *s)
{
	const config_setting_t *list = config_setting_get_member(g, "sinks");

	for (size_t k = 0; k < s->nsinks; k++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)k);
		const char *n = s->sinks[k];

		if (n == NULL)
			continue;
		if (cfg_sink_find(ld->cfg, n) == NULL)
			report(ld, e, NULL, "unknown sink \"%s\" (not in sinks)", n);
		for (size_t m = 0; m < k; m++)
			if (s->sinks[m] != NULL && strcmp(s->sinks[m], n) == 0)
				report(ld, e, NULL, "sink \"%s\" is listed twice", n);
	}
}

static void
check_cross(struct ld *ld)
{
	const struct cfg *c = ld->cfg;

	for (size_t j = 0; j < c->nsinks; j++)
		for (size_t i = 0; i < j && c->sinks[j].name != NULL; i++)
			if (c->sinks[i].name != NULL &&
			    strcmp(c->sinks[i].name, c->sinks[j].name) == 0)
				report(ld, config_setting_get_elem(ld->sinks, (unsigned)j),
				    "name", "duplicate sink name \"%s\"", c->sinks[j].name);
	for (size_t j = 0; j < c->nslots; j++) {
		const config_setting_t *g = config_setting_get_elem(ld->slots, (unsigned)j);

		if (c->slots[j].name == NULL)
			continue;
		for (size_t i = 0; i < j; i++)
			if (c->slots[i].name != NULL)
				check_slot_pair(ld, g, &c->slots[i], &c->slots[j]);
		if (ld->sinks != NULL)
			check_slot_sinks(ld, g, &c->slots[j]);
	}
}

static void
load_lists(struct ld *ld, const config_setting_t *root)
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
	check_cross(ld);
}

/* ---- reading the file ---- */

/* Parse path into lc; 0, or -1 with the reason reported. */
static int
read_config(struct ld *ld, config_t *lc)
{
	struct stat st;
	FILE *f;
	int rc;

	if ((f = fopen(ld->path, "r")) == NULL) {
		emit(ld, 0, "%s: cannot read: %s", ld->path, strerror(errno));
		return -1;
	}
	rc = fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode) ? -1 : 0;
	fclose(f);
	if (rc < 0) {
		emit(ld, 0, "%s: cannot read: %s", ld->path, strerror(EISDIR));
		return -1;
	}
	if (config_read_file(lc, ld->path) == CONFIG_TRUE)
		return 0;
	if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
		emit(ld, 0, "%s: cannot read: %s", config_error_file(lc) ? config_error_file(lc) :
		    ld->path, config_error_text(lc));
	else
		emit(ld, 0, "%s:%d: syntax error: %s", config_error_file(lc) ?
		    config_error_file(lc) : ld->path, config_error_line(lc), config_error_text(lc));
	return -1;
}

struct cfg *
cfg_load(const char *path, char *err, size_t errlen)
{
	struct ld ld = { .path = path };
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
	flush_msgs(&ld, err, errlen);
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
		free(s->brokers);
		free(s->topic_prefix);
	}
	free(cfg->slots);
	free(cfg->sinks);
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->run_dir);
	free(cfg->log_file);
	free(cfg->conninfo);
	free(cfg->password_file);
	free(cfg);
}

const struct cfg_slot *
cfg_slot_find(const struct cfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nslots; i++)
		if (cfg->slots[i].name != NULL && strcmp(cfg->slots[i].name, name) == 0)
			return &cfg->slots[i];
	return NULL;
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
	return (int)t >= 0 && (int)t < NSINK_TYPES ? sink_type_names[t] : "?";
}
