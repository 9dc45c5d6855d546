/*
 * cfg_check: problem collection and validation rules for cfg.c.  Problems
 * are gathered, never stopped at, and shown sorted by line so they read in
 * the order of the file; a missing setting points at the line of its group.
 * Rules see settings after cfg.c has read them; conninfo is never echoed.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "common/cfg.h"
#include "common/cfg_check.h"
#include "common/log.h"

#define NAME_MAX_LEN	63	/* PostgreSQL's NAMEDATALEN - 1 */

/* Character sets of names; slot names become replication slot names. */
#define SLOT_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_"
#define SINK_CHARS	SLOT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ-"
#define TOPIC_CHARS	SINK_CHARS "."
#define Z85_CHARS	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

/* One problem; seq keeps the order of finding within a line. */
struct cfg_msg {
	unsigned	 line;
	size_t		 seq;
	char		*text;
};

/* The settings that belong to each sink type, besides name and type. */
static const char *const sink_type_keys[][4] = {
	[CFG_SINK_JSONL] = { "dir", "segment_bytes", "output_mode", NULL },
	[CFG_SINK_POSTGRES] = { "conninfo", NULL },
	[CFG_SINK_ZMQ] = { "endpoint", "curve_secret_key_file", "curve_allowed_clients", NULL },
	[CFG_SINK_KAFKA] = { "brokers", "topic_prefix", NULL },
};
#define NSINK_TYPES	((int)(sizeof(sink_type_keys) / sizeof(sink_type_keys[0])))

/* ---- problem collection ---- */

void
cfg_emit(struct cfg_ld *ld, unsigned line, const char *fmt, ...)
{
	struct cfg_msg *m;
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
	const struct cfg_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
cfg_flush_msgs(struct cfg_ld *ld, char *err, size_t errlen)
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

void
cfg_report(struct cfg_ld *ld, const config_setting_t *at, const char *child,
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
	cfg_emit(ld, line, "%s:%u: %s: %s", file ? file : ld->path, line, where, msg);
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

void
cfg_check_known(struct cfg_ld *ld, const config_setting_t *g, const char *const *known)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);

		if (!in_list(config_setting_name(s), known))
			cfg_report(ld, s, NULL, "unknown setting");
	}
}

/* ---- one slot ---- */

void
cfg_check_slot_name(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_slot *s)
{
	char shard[16];
	int n;

	if (!name_ok(s->name, SLOT_CHARS, NAME_MAX_LEN)) {
		cfg_report(ld, g, "name", "invalid slot name \"%s\": use 1 to %d characters "
		    "from a-z, 0-9 and _ (it names a replication slot)", s->name, NAME_MAX_LEN);
		return;
	}
	n = snprintf(shard, sizeof(shard), "_%d", s->shards - 1);
	if (s->shards > 1 && strlen(s->name) + (size_t)n > NAME_MAX_LEN)
		cfg_report(ld, g, "name", "slot name \"%s\" is too long for shards = %d: "
		    "\"%s%s\" has more than %d characters", s->name, s->shards,
		    s->name, shard, NAME_MAX_LEN);
}

/* A default publication ("pgcdc_<name>") may be too long; a set one must be
 * a plain name. */
void
cfg_check_publication(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_slot *s)
{
	if (s->publication == NULL)
		return;
	if (config_setting_get_member(g, "publication") == NULL) {
		if (strlen(s->publication) > NAME_MAX_LEN)
			cfg_report(ld, g, "publication", "the default \"%s\" is longer than %d "
			    "characters: set publication", s->publication, NAME_MAX_LEN);
	} else if (!name_ok(s->publication, SINK_CHARS, NAME_MAX_LEN)) {
		cfg_report(ld, g, "publication", "invalid publication name \"%s\": use 1 to %d "
		    "characters from A-Z, a-z, 0-9, _ and -", s->publication, NAME_MAX_LEN);
	}
}

static void
check_table(struct cfg_ld *ld, const config_setting_t *e, const char *t)
{
	const char *dot = strchr(t, '.');

	if (dot == NULL)
		cfg_report(ld, e, NULL, "table \"%s\" is not schema-qualified: "
		    "write it as \"schema.table\", e.g. \"public.%s\"", t, t);
	else if (dot == t || dot[1] == '\0' || strchr(dot + 1, '.') != NULL)
		cfg_report(ld, e, NULL, "\"%s\" is not of the form \"schema.table\" "
		    "(either part may use * as a wildcard)", t);
	else if (dot - t > NAME_MAX_LEN || strlen(dot + 1) > NAME_MAX_LEN)
		cfg_report(ld, e, NULL, "\"%s\": schema and table names have at most %d "
		    "characters", t, NAME_MAX_LEN);
}

void
cfg_check_tables(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_slot *s)
{
	const config_setting_t *tables = config_setting_get_member(g, "tables");

	for (size_t i = 0; i < s->ntables; i++)
		if (s->tables[i] != NULL)
			check_table(ld, config_setting_get_elem(tables, (unsigned)i), s->tables[i]);
}

/* ---- one sink ---- */

void
cfg_check_sink_name(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_sink *s)
{
	if (s->name != NULL && !name_ok(s->name, SINK_CHARS, NAME_MAX_LEN))
		cfg_report(ld, g, "name", "invalid sink name \"%s\": use 1 to %d characters "
		    "from A-Z, a-z, 0-9, _ and -", s->name, NAME_MAX_LEN);
}

/* Settings of other sink types are errors too: they would be ignored. */
void
cfg_check_sink_keys(struct cfg_ld *ld, const config_setting_t *g, int type)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *key = config_setting_name(s);
		int owner = -1;

		if (strcmp(key, "name") == 0 || strcmp(key, "type") == 0 ||
		    strcmp(key, "transactions") == 0)	/* settings of every type */
			continue;
		for (int t = 0; t < NSINK_TYPES && owner < 0; t++)
			if (in_list(key, sink_type_keys[t]))
				owner = t;
		if (owner < 0)
			cfg_report(ld, s, NULL, "unknown setting");
		else if (type >= 0 && owner != type)
			cfg_report(ld, s, NULL, "not a setting of %s sinks (it belongs to %s sinks)",
			    cfg_sink_type_name((enum cfg_sink_type)type),
			    cfg_sink_type_name((enum cfg_sink_type)owner));
	}
}

/* Can only this host reach a zmq endpoint (ipc://, tcp:// on loopback)? */
static int
endpoint_local(const char *ep)
{
	const char *port = strrchr(ep, ':');
	char host[64];
	uint8_t a[16];

	if (strncmp(ep, "ipc://", 6) == 0)
		return 1;
	if (strncmp(ep, "tcp://", 6) != 0 || port < ep + 6 || port - ep - 6 >= (long)sizeof(host))
		return 0;
	snprintf(host, sizeof(host), "%.*s", (int)(port - ep - 6), ep + 6);
	return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    (inet_pton(AF_INET, host, a) == 1 && a[0] == 127);
}

/* An ipc:// endpoint must be a socket in run_dir (0700): its file mode is
 * all that keeps other local users off it.  Other endpoints pass. */
static int
ipc_in_run_dir(const char *ep, const char *run_dir)
{
	size_t n = run_dir ? strlen(run_dir) : 0;

	if (strncmp(ep, "ipc://", 6) != 0)
		return 1;
	ep += 6;
	while (n > 1 && run_dir[n - 1] == '/')
		n--;
	return n > 0 && strncmp(ep, run_dir, n) == 0 && ep[n] == '/' && ep[n + 1] != '\0' &&
	    strchr(ep + n + 1, '/') == NULL && strstr(ep, "/..") == NULL;
}

/* Only the settings of the sink's own type were read, so at most one of
 * these is set. */
void
cfg_check_sink_values(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_sink *s)
{
	if (s->endpoint != NULL && strstr(s->endpoint, "://") == NULL)
		cfg_report(ld, g, "endpoint", "\"%s\" is not a ZeroMQ endpoint "
		    "(e.g. \"tcp://127.0.0.1:5600\")", s->endpoint);
	else if (s->endpoint != NULL && !s->curve_secret_key_file && !endpoint_local(s->endpoint))
		cfg_report(ld, g, "endpoint", "\"%s\" lets other hosts read every change "
		    "unencrypted; fix: set curve_secret_key_file and curve_allowed_clients, "
		    "or use tcp://127.0.0.1:PORT or ipc://", s->endpoint);
	if (s->endpoint != NULL && !ipc_in_run_dir(s->endpoint, ld->cfg->run_dir))
		cfg_report(ld, g, "endpoint", "\"%s\" is an ipc:// socket outside run_dir, "
		    "where other users may reach it; fix: ipc://%s/<name>", s->endpoint,
		    ld->cfg->run_dir ? ld->cfg->run_dir : "<run_dir>");
	if (s->curve_allowed_clients != NULL && s->curve_secret_key_file == NULL)
		cfg_report(ld, g, "curve_allowed_clients", "needs curve_secret_key_file");
	for (size_t i = 0; i < s->ncurve_allowed_clients; i++)
		if (s->curve_allowed_clients[i] && (strlen(s->curve_allowed_clients[i]) != 40 ||
		    strspn(s->curve_allowed_clients[i], Z85_CHARS) != 40))
			cfg_report(ld, g, "curve_allowed_clients", "\"%s\" is not a CURVE public "
			    "key (40 Z85 characters)", s->curve_allowed_clients[i]);
	if (s->topic_prefix != NULL && !name_ok(s->topic_prefix, TOPIC_CHARS, 200))
		cfg_report(ld, g, "topic_prefix", "invalid Kafka topic prefix \"%s\": use "
		    "A-Z, a-z, 0-9, '.', '_' and '-'", s->topic_prefix);
}

/* ---- checks across slots and sinks ---- */

/* A replication slot both a and b would use, written to buf; 0 if none. */
static int
slots_overlap(const struct cfg_slot *a, const struct cfg_slot *b, char *buf, size_t len)
{
	for (int i = 0; i < b->shards; i++) {
		cfg_slot_name(b, i, buf, len);
		if (cfg_slot_owns(a, buf) >= 0)
			return 1;
	}
	return 0;
}

static void
check_slot_pair(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_slot *a,
    const struct cfg_slot *b)
{
	char both[NAME_MAX_LEN + 16];

	if (strcmp(a->name, b->name) == 0)
		cfg_report(ld, g, "name", "duplicate slot name \"%s\"", b->name);
	else if (slots_overlap(a, b, both, sizeof(both)))
		cfg_report(ld, g, "name", "replication slot \"%s\" is also one of slot \"%s\" "
		    "(shards = %d)", both, a->name, a->shards);
	if (strcmp(a->name, b->name) != 0 && a->publication != NULL &&
	    b->publication != NULL && strcmp(a->publication, b->publication) == 0)
		cfg_report(ld, g, "publication", "publication \"%s\" is already used by slot "
		    "\"%s\": every slot needs its own", b->publication, a->name);
}

static void
check_slot_sinks(struct cfg_ld *ld, const config_setting_t *g, const struct cfg_slot *s)
{
	const config_setting_t *list = config_setting_get_member(g, "sinks");

	for (size_t k = 0; k < s->nsinks; k++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)k);
		const char *n = s->sinks[k];

		if (n == NULL)
			continue;
		if (cfg_sink_find(ld->cfg, n) == NULL)
			cfg_report(ld, e, NULL, "unknown sink \"%s\" (not in sinks)", n);
		for (size_t m = 0; m < k; m++)
			if (s->sinks[m] != NULL && strcmp(s->sinks[m], n) == 0)
				cfg_report(ld, e, NULL, "sink \"%s\" is listed twice", n);
	}
}

void
cfg_check_cross(struct cfg_ld *ld)
{
	const struct cfg *c = ld->cfg;

	for (size_t j = 0; j < c->nsinks; j++)
		for (size_t i = 0; i < j && c->sinks[j].name != NULL; i++)
			if (c->sinks[i].name != NULL &&
			    strcmp(c->sinks[i].name, c->sinks[j].name) == 0)
				cfg_report(ld, config_setting_get_elem(ld->sinks, (unsigned)j),
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
