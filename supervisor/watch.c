/*
 * watch: `pgcdc watch -c CONFIG schema.table`, a live view of a table's
 * current rows, rebuilt from the files of a jsonl sink fed by the table's
 * slot and updated as lines are appended.  Plain ANSI escapes and termios,
 * so it works over any ssh session.  The terminal is always given back
 * (raw mode off, cursor shown, alternate screen left): on q, Ctrl-C, the
 * signals INT TERM HUP, and any exit() through the atexit hook.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/pgconn.h"
#include "common/sig.h"
#include "common/util.h"
#include "supervisor/sup.h"
#include "supervisor/watch.h"

#define WATCH_READ_MS	100		/* look for new lines this often */
#define WATCH_DRAW_MS	100		/* at most 10 frames a second */
#define WATCH_BUDGET	(2 << 20)	/* bytes read between looks at the keyboard */
#define WATCH_MAX_KEYS	32

static struct termios saved_tio;
static int term_on;

static int
write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static void
term_leave(void)
{
	static const char bye[] = "\033[0m\033[?25h\033[?1049l";

	if (!term_on)
		return;
	term_on = 0;
	(void)write_all(STDOUT_FILENO, bye, sizeof(bye) - 1);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
}

static int
term_enter(void)
{
	static const char hello[] = "\033[?1049h\033[?25l\033[2J";
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0) {
		log_error("%s: tcgetattr: %s", __func__, strerror(errno));
		return -1;
	}
	raw = saved_tio;
	raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);	/* Ctrl-C is a key */
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0) {
		log_error("%s: tcsetattr: %s", __func__, strerror(errno));
		return -1;
	}
	term_on = 1;
	atexit(term_leave);
	return write_all(STDOUT_FILENO, hello, sizeof(hello) - 1);
}

static void
term_size(int *width, int *height)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		*width = ws.ws_col;
		*height = ws.ws_row;
	} else {
		*width = 80;
		*height = 24;
	}
}

/* s matches pat, where '*' stands for any run of characters. */
static int
star_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* A slot's table entry names the table: exactly, or as a pattern whose
 * schema and table parts match separately (as the worker expands them). */
static int
table_matches(const char *entry, const char *name)
{
	const char *ed = strchr(entry, '.'), *nd = strchr(name, '.');
	char es[256], ns[256];

	if (!strchr(entry, '*'))
		return strcmp(entry, name) == 0;
	if (ed == NULL || nd == NULL || ed - entry >= (long)sizeof(es) || nd - name >= (long)sizeof(ns))
		return 0;
	snprintf(es, sizeof(es), "%.*s", (int)(ed - entry), entry);
	snprintf(ns, sizeof(ns), "%.*s", (int)(nd - name), name);
	return star_match(es, ns) && star_match(ed + 1, nd + 1);
}

/* The table's directory as the jsonl sink names it (sink/jsonl.c dir_name). */
static void
table_dir(const char *sinkdir, const char *name, char *out, size_t len)
{
	char esc[900];
	size_t o = 0;

	for (const char *p = name; *p && o + 4 < sizeof(esc); p++) {
		if (*p == '/' || *p == '%' || (p == name && (*p == '.' || *p == '@')))
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "%%%02X", (unsigned char)*p);
		else
			esc[o++] = *p;
	}
	esc[o] = '\0';
	snprintf(out, len, "%s/%s", sinkdir, esc);
}

/* Directory of the table in a jsonl sink fed by a slot with the table. */
static int
find_source(const struct cfg *cfg, const char *name, char *dir, size_t len)
{
	const char *slot = NULL;

	for (size_t i = 0; i < cfg->nslots; i++) {
		const struct cfg_slot *s = &cfg->slots[i];
		size_t j;

		for (j = 0; j < s->ntables && !table_matches(s->tables[j], name); j++)
			;
		if (j == s->ntables)
			continue;
		slot = s->name;
		for (j = 0; j < s->nsinks; j++) {
			const struct cfg_sink *k = cfg_sink_find(cfg, s->sinks[j]);

			if (k != NULL && k->type == CFG_SINK_JSONL) {
				table_dir(k->dir, name, dir, len);
				return 0;
			}
		}
	}
	if (slot == NULL)
		fprintf(stderr, "pgcdc watch: no slot in %s has table %s; fix: add it to a "
		    "slot's tables\n", cfg->path, name);
	else
		fprintf(stderr, "pgcdc watch: slot %s has table %s but feeds no jsonl sink, "
		    "whose files watch reads; fix: add a jsonl sink to the slot's sinks\n",
		    slot, name);
	return -1;
}

/* Key columns from the catalog: the primary key, else the replica identity
 * index.  nkeys 0 (the whole row) when there is none or no source. */
static void
catalog_keys(const struct cfg *cfg, const char *name, char ***keys, uint32_t *nkeys,
    char *desc, size_t len)
{
	enum pgconn_err err;
	char q[600];
	const char *p[1] = { q };
	PGconn *c;
	PGresult *r = NULL;
	size_t o;

	*keys = NULL;
	*nkeys = 0;
	setenv("PGCONNECT_TIMEOUT", "5", 0);	/* libpq's default: none */
	if ((c = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-watch", &err)) == NULL) {
		fprintf(stderr, "pgcdc watch: the source is unreachable: the whole row is the key\n");
		snprintf(desc, len, "key: whole row (source unreachable)");
		return;
	}
	if (pgconn_quote_qualified(c, name, q, sizeof(q)) == 0)
		r = PQexecParams(c, "SELECT a.attname FROM (SELECT indrelid, indkey FROM pg_index "
		    "WHERE indrelid = to_regclass($1) AND (indisprimary OR indisreplident) "
		    "ORDER BY indisprimary DESC LIMIT 1) i "
		    "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) "
		    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
		    "ORDER BY k.n", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0) {
		snprintf(desc, len, "key: whole row (%s)", PQresultStatus(r) == PGRES_TUPLES_OK ?
		    "no primary key" : "catalog not readable");
		goto done;
	}
	*nkeys = (uint32_t)PQntuples(r);
	if ((*keys = calloc(*nkeys, sizeof(**keys))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	o = (size_t)snprintf(desc, len, "key:");
	for (uint32_t i = 0; i < *nkeys; i++) {
		if ((*keys)[i] = strdup(PQgetvalue(r, (int)i, 0)), (*keys)[i] == NULL)
			fatal(1, "%s: out of memory", __func__);
		if (o < len)
			o += (size_t)snprintf(desc + o, len - o, "%s %s", i ? "," : "", (*keys)[i]);
	}
done:
	PQclear(r);
	PQfinish(c);
}

struct watch {
	const char	*name;
	char		 dir[PATH_MAX];
	char		 keydesc[300];
	char		 status[PATH_MAX + 64];
	struct watch_table t;
	struct watch_tail tail;
	struct buf	 frame;
	int		 width, height;
	int		 dirty, more, quit;
	uint64_t	 seen;		/* events + bad lines + restarts drawn */
};

/* Keys waiting on the terminal: q, Q, Ctrl-C quit; a hangup too. */
static void
on_keys(struct watch *w, short revents)
{
	char k[WATCH_MAX_KEYS];
	ssize_t n = read(STDIN_FILENO, k, sizeof(k));

	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) ||
	    (revents & (POLLHUP | POLLERR | POLLNVAL)))
		w->quit = 1;
	for (ssize_t i = 0; i < n; i++)
		if (k[i] == 'q' || k[i] == 'Q' || k[i] == 3)
			w->quit = 1;
}

static void
take_signals(struct watch *w)
{
	if (sig_take(SIGINT) | sig_take(SIGTERM) | sig_take(SIGHUP))
		w->quit = 1;
	if (sig_take(SIGWINCH)) {
		term_size(&w->width, &w->height);
		w->dirty = 1;
	}
}

static void
follow(struct watch *w)
{
	char status[sizeof(w->status)];
	uint64_t seen;

	w->more = watch_tail_poll(&w->tail, &w->t, WATCH_BUDGET);
	seen = w->t.events + w->t.bad + (uint64_t)w->tail.restarts;
	if (w->tail.fd < 0 && w->t.events == 0)
		snprintf(status, sizeof(status), "waiting for %s/*.jsonl", w->dir);
	else
		snprintf(status, sizeof(status), "%s", w->more ? "reading..." : "");
	if (seen != w->seen || strcmp(status, w->status) != 0)
		w->dirty = 1;
	w->seen = seen;
	memcpy(w->status, status, sizeof(status));
}

static int
draw(struct watch *w)
{
	struct watch_info info = { w->name, w->keydesc, w->status };

	watch_draw(&w->frame, &w->t, &info, w->width, w->height);
	w->dirty = 0;
	return write_all(STDOUT_FILENO, w->frame.data, w->frame.len);
}

static void
loop(struct watch *w)
{
	int64_t next_read = 0, last_draw = 0;

	while (!w->quit) {
		int64_t now = util_now_ms();
		int64_t timeout = w->more ? 0 : next_read - now;
		struct pollfd pfd[2] = { { STDIN_FILENO, POLLIN, 0 }, { sig_fd(), POLLIN, 0 } };

		if (w->dirty && last_draw + WATCH_DRAW_MS - now < timeout)
			timeout = last_draw + WATCH_DRAW_MS - now;
		if (poll(pfd, 2, timeout < 0 ? 0 : (int)timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			on_keys(w, pfd[0].revents);
		take_signals(w);
		now = util_now_ms();
		if (!w->quit && (w->more || now >= next_read)) {
			follow(w);
			next_read = now + WATCH_READ_MS;
		}
		if (!w->quit && w->dirty && now - last_draw >= WATCH_DRAW_MS) {
			if (draw(w) < 0)
				break;	/* the terminal is gone */
			last_draw = now;
		}
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: pgcdc watch -c CONFIG SCHEMA.TABLE\n");
	return 2;
}

int
sup_watch(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH, 0 };
	const char *config = NULL, *table = NULL;
	char name[600], **keys;
	struct watch w;
	uint32_t nkeys;
	struct cfg *cfg;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (argv[i][0] != '-' && table == NULL)
			table = argv[i];
		else
			return usage();
	}
	if (config == NULL || table == NULL)
		return usage();
	log_init("watch", NULL);
	if ((cfg = sup_load_config(config, stderr)) == NULL)
		return 2;
	memset(&w, 0, sizeof(w));
	snprintf(name, sizeof(name), "%s%s", strchr(table, '.') ? "" : "public.", table);
	w.name = name;
	if (find_source(cfg, name, w.dir, sizeof(w.dir)) < 0) {
		cfg_free(cfg);
		return 2;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "pgcdc watch: needs a terminal on stdin and stdout\n");
		cfg_free(cfg);
		return 2;
	}
	catalog_keys(cfg, name, &keys, &nkeys, w.keydesc, sizeof(w.keydesc));
	cfg_free(cfg);
	watch_table_init(&w.t, (const char *const *)keys, nkeys);
	for (uint32_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	watch_tail_init(&w.tail, w.dir);
	term_size(&w.width, &w.height);
	w.dirty = 1;
	if (sig_setup(sigs) < 0 || term_enter() < 0)
		return 1;
	loop(&w);
	term_leave();
	watch_tail_close(&w.tail);
	watch_table_free(&w.t);
	buf_free(&w.frame);
	return 0;
}
