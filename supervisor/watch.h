/*
 * watch: the parts of `pgcdc watch` (watch.c: command, terminal, loop;
 * watch_rows.c: a table's current rows rebuilt from Debezium envelopes;
 * watch_tail.c: following a jsonl sink's segments; watch_draw.c: the screen).
 * Rows are kept sorted by key, so the screen's first rows are the array's.
 */
#ifndef PGCDC_WATCH_H
#define PGCDC_WATCH_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/jsonparse.h"

/* Kinds order keys of different kinds; a cell's text is its JSON text,
 * strings decoded. */
enum watch_kind { WK_ABSENT, WK_NULL, WK_BOOL, WK_NUM, WK_DECIMAL, WK_STR, WK_JSON };

struct watch_cell {
	const char	*text;
	uint32_t	 len;
	uint8_t		 kind;
};

struct watch_row {
	uint32_t		 n;	/* cells; columns past n are absent */
	struct watch_cell	 c[];
};

struct watch_table {
	char		**cols;		/* names, in the order the events show them */
	uint32_t	  ncols;
	char		**keys;		/* key column names; none: the whole row */
	int		 *keycol;	/* column of each key name, -1 not seen yet */
	uint32_t	  nkeys;
	struct watch_row **rows;	/* sorted by key */
	size_t		  nrows, cap;
	uint64_t	  events, bad;	/* lines applied / skipped as unreadable */
	char		  why_bad[160];	/* what was wrong with the last bad line */
	struct jp_doc	  doc;
	struct watch_row *probe;	/* scratch row pointing into doc */
	uint32_t	  probecap;
};

/* keys: the key columns (NULL, 0: the whole row is the key). */
void watch_table_init(struct watch_table *t, const char *const *keys, uint32_t nkeys);
void watch_table_free(struct watch_table *t);
/* Drop every row (and the counters), keeping columns and keys. */
void watch_table_clear(struct watch_table *t);
/* Apply one envelope line (without its newline).  0 applied or ignored
 * (op m), -1 unreadable: counted in t->bad, t->why_bad says why. */
int watch_table_apply(struct watch_table *t, const char *line, size_t len);
/* A cell of row r in column col (absent past the row's cells). */
const struct watch_cell *watch_cell(const struct watch_row *r, uint32_t col);

/* Follows <dir>/<segment>.jsonl in segment order, complete lines only. */
struct watch_tail {
	char		 dir[PATH_MAX];
	uint64_t	 seg;		/* segment open now (0: none yet) */
	int		 fd;
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 off;		/* bytes of the segment read */
	struct buf	 part;		/* bytes read past the last newline */
	int		 restarts;	/* times the output was cut back or replaced */
};

void watch_tail_init(struct watch_tail *w, const char *dir);
void watch_tail_close(struct watch_tail *w);
/* Read up to budget bytes of new lines, applying each to t.  When the
 * output was cut back or replaced under us, t is cleared and reading starts
 * over.  Returns 1 if more is waiting, 0 if caught up. */
int watch_tail_poll(struct watch_tail *w, struct watch_table *t, size_t budget);

/* What the screen shows besides the rows. */
struct watch_info {
	const char	*table;		/* schema.table */
	const char	*keydesc;	/* e.g. "key id" or "key: whole row (...)" */
	const char	*status;	/* "" or a note such as "waiting for ..." */
};

/* Render a whole frame of width x height into out (ANSI escapes). */
void watch_draw(struct buf *out, const struct watch_table *t, const struct watch_info *info,
    int width, int height);

#endif
