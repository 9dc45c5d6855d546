/*
 * pgsql: the statements that apply one change to a target table, prepared
 * once per table and kind (and per set of unchanged TOAST columns, which an
 * UPDATE leaves out of its SET list), then executed with the tuple's text
 * values as parameters.  Keyed tables: upsert by key (runs of them as
 * multi-row upserts), update (of some columns, or of the key) and delete by
 * key (runs of them as multi-row deletes).  Keyless (REPLICA IDENTITY FULL
 * without a key): insert unless an equal row exists, update and delete one
 * row equal to the old tuple, each column compared by its text form with IS
 * NOT DISTINCT FROM (types without an equality operator, NULLs).  Snapshot
 * rows go by COPY (pgcopy.c), merged by statements built here with the same
 * semantics.  No allocation per change once warm.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sink/pg.h"

static int
bit(const uint8_t *m, size_t i)
{
	return m[i >> 3] >> (i & 7) & 1;
}

/* Column i's value: the staging table's (n 0), else parameter n, cast to
 * the column's type if cast. */
static void
stage_col(struct buf *b, const struct pg_tab *t, size_t i, int n, int cast)
{
	if (n == 0) {
		buf_puts(b, "s.");
		pgpipe_ident(b, t->cols[i].name);
	} else if (cast) {
		buf_printf(b, "CAST($%d AS %s)", n, t->cols[i].type);
	} else {
		buf_printf(b, "$%d", n);
	}
}

/* "CAST(CAST($n AS type) AS text)" compares values of any type as the
 * target writes them; both sides go through the same cast.  The indexed
 * column is compared with = first, so the index finds the candidates.
 * stage: the values are the staging table's columns (s), not parameters. */
static void
match(struct buf *b, const struct pg_tab *t, const uint8_t *mask, size_t off, int *n,
    int stage)
{
	const char *sep = "";

	for (size_t i = 0; i < t->ncols; i++) {
		if (mask != NULL && bit(mask, off + i))
			continue;
		buf_puts(b, sep);
		if ((int)i == t->match_col) {
			buf_puts(b, "(x.");
			pgpipe_ident(b, t->cols[i].name);
			buf_puts(b, " = ");
			stage_col(b, t, i, stage ? 0 : *n + 1, 1);
			buf_puts(b, " OR x.");
			pgpipe_ident(b, t->cols[i].name);
			buf_puts(b, " IS NULL AND ");
			stage_col(b, t, i, stage ? 0 : *n + 1, 0);
			buf_puts(b, " IS NULL) AND ");
		}
		buf_puts(b, "CAST(x.");
		pgpipe_ident(b, t->cols[i].name);
		buf_puts(b, " AS text) IS NOT DISTINCT FROM CAST(");
		stage_col(b, t, i, stage ? 0 : ++*n, 1);
		buf_puts(b, " AS text)");
		sep = " AND ";
	}
	if (*sep == '\0')
		buf_puts(b, "true");
}

/* "k1 = $n AND k2 = $n+1" over the key columns. */
static void
key_match(struct buf *b, const struct pg_tab *t, int *n)
{
	const char *sep = "";

	for (size_t i = 0; i < t->ncols; i++) {
		if (!(t->cols[i].flags & REL_COL_KEY))
			continue;
		buf_puts(b, sep);
		pgpipe_ident(b, t->cols[i].name);
		buf_printf(b, " = $%d", ++*n);
		sep = " AND ";
	}
}

/* The key columns, comma-separated; returns how many. */
static int
key_list(struct buf *b, const struct pg_tab *t)
{
	int k = 0;

	for (size_t i = 0; i < t->ncols; i++) {
		if (!(t->cols[i].flags & REL_COL_KEY))
			continue;
		buf_puts(b, k++ ? ", " : "");
		pgpipe_ident(b, t->cols[i].name);
	}
	return k;
}

/* The column list, each prefixed with alias (a "x." form) if not "". */
static void
col_list(struct buf *b, const struct pg_tab *t, const char *alias)
{
	for (size_t i = 0; i < t->ncols; i++) {
		buf_puts(b, i > 0 ? ", " : "");
		buf_puts(b, alias);
		pgpipe_ident(b, t->cols[i].name);
	}
}

size_t
pgsql_batch_rows(const struct pg_tab *t)
{
	size_t most = 65535 / (t->ncols ? t->ncols : 1);

	return most < PG_BATCH ? most : PG_BATCH;
}

/* " ON CONFLICT (keys) DO UPDATE SET c = EXCLUDED.c, ..." (DO NOTHING when
 * every column is a key). */
static void
on_conflict(const struct pg_tab *t, struct buf *b)
{
	const char *sep = " DO UPDATE SET ";

	buf_puts(b, " ON CONFLICT (");
	key_list(b, t);
	buf_puts(b, ")");
	for (size_t i = 0; i < t->ncols; i++) {
		if (t->cols[i].flags & REL_COL_KEY)
			continue;
		buf_puts(b, sep);
		pgpipe_ident(b, t->cols[i].name);
		buf_puts(b, " = EXCLUDED.");
		pgpipe_ident(b, t->cols[i].name);
		sep = ", ";
	}
	if (*sep == ' ')
		buf_puts(b, " DO NOTHING");
}

/* Keyless, a snapshot row ('I') goes in only if no equal row is there (a
 * chunk can carry a row the stream delivered first); a new row ('N') just
 * goes in: rows may be equal, and the source can hold two. */
static void
build_insert(const struct pg_tab *t, char kind, size_t rows, struct buf *b)
{
	int n = 0;

	buf_printf(b, "INSERT INTO %s (", t->qname);
	col_list(b, t, "");
	if (!t->keyed && kind == 'I') {
		buf_puts(b, ") SELECT ");
		for (size_t i = 0; i < t->ncols; i++)
			buf_printf(b, "%sCAST($%zu AS %s)", i ? ", " : "", i + 1, t->cols[i].type);
		buf_printf(b, " WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE ", t->qname);
		match(b, t, NULL, 0, &n, 0);
		buf_puts(b, ")");
		return;
	}
	buf_puts(b, ") VALUES ");
	for (size_t r = 0; r < rows; r++) {
		buf_puts(b, r ? ", (" : "(");
		for (size_t i = 0; i < t->ncols; i++)
			buf_printf(b, "%s$%d", i ? ", " : "", ++n);
		buf_puts(b, ")");
	}
	if (t->keyed)
		on_conflict(t, b);
}

/* The staging table's rows into t: upserts by key; keyless, the rows no
 * equal row exists of, each once (as row by row inserts would leave it). */
static void
build_merge(const struct pg_tab *t, struct buf *b)
{
	int n = 0;

	buf_printf(b, "INSERT INTO %s (", t->qname);
	col_list(b, t, "");
	if (t->keyed) {
		buf_puts(b, ") SELECT ");
		col_list(b, t, "");
		buf_printf(b, " FROM pg_temp.\"%s\"", t->stage);
		on_conflict(t, b);
		return;
	}
	buf_puts(b, ") SELECT DISTINCT ON (");
	for (size_t i = 0; i < t->ncols; i++) {
		buf_puts(b, i ? ", CAST(s." : "CAST(s.");
		pgpipe_ident(b, t->cols[i].name);
		buf_puts(b, " AS text)");
	}
	buf_puts(b, ") ");
	col_list(b, t, "s.");
	buf_printf(b, " FROM pg_temp.\"%s\" s WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE ",
	    t->stage, t->qname);
	match(b, t, NULL, 0, &n, 1);
	buf_puts(b, ")");
}

/* Is there a row at or past key ($1, ...) in key order? */
static void
build_probe(const struct pg_tab *t, struct buf *b)
{
	int n;

	buf_printf(b, "SELECT EXISTS (SELECT 1 FROM %s WHERE (", t->qname);
	n = key_list(b, t);
	buf_puts(b, ") >= (");
	for (int i = 1; i <= n; i++)
		buf_printf(b, "%s$%d", i > 1 ? ", " : "", i);
	buf_puts(b, "))");
}

size_t
pgsql_int_keys(const struct pg_tab *t)
{
	size_t n = 0;

	for (size_t i = 0; t->keyed && i < t->ncols; i++) {
		const char *type = t->cols[i].type;

		if (!(t->cols[i].flags & REL_COL_KEY))
			continue;
		if (strcmp(type, "smallint") != 0 && strcmp(type, "integer") != 0 &&
		    strcmp(type, "bigint") != 0)
			return 0;
		n++;
	}
	return n <= PG_COPY_KEYS ? n : 0;
}

/* Deletes of rows keys: "k IN ($1, ...)", else "(k1 = $1 AND k2 = $2) OR ...". */
static void
build_deletes(const struct pg_tab *t, size_t rows, struct buf *b)
{
	size_t key = 0, nkeys = 0;
	int n = 0;

	for (size_t i = 0; i < t->ncols; i++)
		if (t->cols[i].flags & REL_COL_KEY) {
			key = i;
			nkeys++;
		}
	buf_printf(b, "DELETE FROM %s WHERE ", t->qname);
	if (nkeys == 1) {
		pgpipe_ident(b, t->cols[key].name);
		buf_puts(b, " IN (");
		for (size_t r = 0; r < rows; r++)
			buf_printf(b, "%s$%d", r ? ", " : "", ++n);
		buf_puts(b, ")");
		return;
	}
	for (size_t r = 0; r < rows; r++) {
		buf_puts(b, r ? " OR (" : "(");
		key_match(b, t, &n);
		buf_puts(b, ")");
	}
}

/* One row of a keyless table equal to the old tuple, by ctid. */
static void
one_row(const struct pg_tab *t, const uint8_t *mask, int *n, struct buf *b)
{
	buf_printf(b, " WHERE ctid = (SELECT ctid FROM %s x WHERE ", t->qname);
	match(b, t, mask, t->ncols, n, 0);
	buf_puts(b, " LIMIT 1)");
}

static void
build(const struct pg_tab *t, char kind, size_t rows, const uint8_t *mask, struct buf *b)
{
	const char *sep = "";
	int n = 0;

	buf_reset(b);
	if (kind == 'I' || kind == 'B' || kind == 'N') {
		build_insert(t, kind, kind != 'I' && rows > 1 ? rows : 1, b);
	} else if (kind == 'X') {
		build_deletes(t, rows, b);
	} else if (kind == 'S') {
		buf_printf(b, "CREATE TEMP TABLE \"%s\" AS SELECT ", t->stage);
		col_list(b, t, "");
		buf_printf(b, " FROM %s WITH NO DATA", t->qname);
	} else if (kind == 'M') {
		build_merge(t, b);
	} else if (kind == 'T') {
		buf_printf(b, "TRUNCATE pg_temp.\"%s\"", t->stage);
	} else if (kind == 'C') {
		buf_printf(b, "COPY %s (", t->qname);
		col_list(b, t, "");
		buf_puts(b, ") FROM STDIN");
	} else if (kind == 'P') {
		build_probe(t, b);
	} else if (kind == 'D') {
		buf_printf(b, "DELETE FROM %s", t->qname);
		if (t->keyed) {
			buf_puts(b, " WHERE ");
			key_match(b, t, &n);
		} else {
			one_row(t, mask, &n, b);
		}
	} else {
		buf_printf(b, "UPDATE %s SET ", t->qname);
		for (size_t i = 0; i < t->ncols; i++) {
			if (bit(mask, i))
				continue;
			buf_puts(b, sep);
			pgpipe_ident(b, t->cols[i].name);
			buf_printf(b, " = $%d", ++n);
			sep = ", ";
		}
		if (t->keyed) {
			buf_puts(b, " WHERE ");
			key_match(b, t, &n);
		} else {
			one_row(t, mask, &n, b);
		}
	}
	buf_putc(b, '\0');
}

void
pgsql_build(const struct pg_tab *t, char kind, const uint8_t *mask, struct buf *b)
{
	build(t, kind, pgsql_batch_rows(t), mask, b);
}

/* The prepared statement of (kind, rows, p->mask), prepared on first use. */
static const char *
var_get(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, char kind, size_t rows)
{
	size_t mlen = ((size_t)t->ncols * 2 + 7) / 8;
	struct pg_var *v;

	for (size_t i = 0; i < t->nvars; i++)
		if (t->vars[i].kind == kind && t->vars[i].rows == rows &&
		    memcmp(t->vars[i].mask, p->mask, mlen) == 0)
			return t->vars[i].name;
	if ((v = realloc(t->vars, (t->nvars + 1) * sizeof(*v))) == NULL ||
	    (v[t->nvars].mask = malloc(mlen ? mlen : 1)) == NULL)
		fatal(1, "%s: out of memory", __func__);
	t->vars = v;
	v = &t->vars[t->nvars++];
	v->kind = kind;
	v->rows = (uint16_t)rows;
	memcpy(v->mask, p->mask, mlen);
	snprintf(v->name, sizeof(v->name), "pgcdc_%llu", (unsigned long long)++pc->seq);
	build(t, kind, rows, p->mask, &p->sql);
	if (pgpipe_prepare(pc, v->name, (const char *)p->sql.data, t) < 0)
		return NULL;
	return v->name;
}

static void
params_reset(struct pg_sink *p, size_t most)
{
	if (most > p->capparams) {
		p->capparams = most;
		p->offs = realloc(p->offs, most * sizeof(*p->offs));
		p->params = realloc(p->params, most * sizeof(*p->params));
		if (p->offs == NULL || p->params == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	p->nparams = 0;
	buf_reset(&p->vals);
}

static int
param(struct pg_sink *p, const struct pg_tab *t, const struct tuple_col *col)
{
	if (col->kind == 'n') {
		p->offs[p->nparams++] = SIZE_MAX;
		return 0;
	}
	if (col->kind != 't') {
		log_error("%s: a value of %s in %s form, expected text", __func__, t->qname,
		    col->kind == 'u' ? "unchanged TOAST" : "binary");
		return -1;
	}
	p->offs[p->nparams++] = p->vals.len;
	buf_append(&p->vals, col->data, col->len);
	buf_putc(&p->vals, '\0');
	return 0;
}

static int
run(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, char kind, const char *what)
{
	const char *name = var_get(p, pc, t, kind, 0);

	if (name == NULL)
		return -1;
	for (size_t i = 0; i < p->nparams; i++)
		p->params[i] = p->offs[i] == SIZE_MAX ? NULL : (const char *)p->vals.data + p->offs[i];
	return pghold_prepared(pc, name, (int)p->nparams, p->params, t, what);
}

/* Mask bit off + i for each 'u' column of tup; returns how many. */
static size_t
mask_unchanged(struct pg_sink *p, const struct tuple *tup, size_t off)
{
	size_t n = 0;

	for (size_t i = 0; tup != NULL && i < tup->ncols; i++)
		if (tup->cols[i].kind == 'u') {
			p->mask[(off + i) >> 3] |= (uint8_t)(1u << ((off + i) & 7));
			n++;
		}
	return n;
}

/* Key values (keyed) or the old row's other than 'u' (keyless) as params. */
static int
where_params(struct pg_sink *p, const struct pg_tab *t, const struct tuple *tup)
{
	for (size_t i = 0; i < t->ncols; i++) {
		if (t->keyed ? !(t->cols[i].flags & REL_COL_KEY) : tup->cols[i].kind == 'u')
			continue;
		if (t->keyed && tup->cols[i].kind == 'u') {
			log_error("%s: key column %s of %s arrived as unchanged TOAST: the row "
			    "cannot be found", __func__, t->cols[i].name, t->qname);
			return -1;
		}
		if (param(p, t, &tup->cols[i]) < 0)
			return -1;
	}
	return 0;
}

static int
upsert(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct tuple *new)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (param(p, t, &new->cols[i]) < 0)
			return -1;
	return run(p, pc, t, 'I', t->keyed ? "upsert into" : "insert into");
}

static int
update(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct sink_change *c)
{
	const struct tuple *where = c->old != NULL ? c->old : c->new;
	size_t left_out = mask_unchanged(p, c->new, 0);

	if (!t->keyed && c->old == NULL) {
		log_error("%s: an update of %s without its old row (REPLICA IDENTITY "
		    "FULL is needed for a table without a key)", __func__, t->qname);
		return -1;
	}
	if (left_out == t->ncols)
		return 0;	/* nothing to set */
	if (!t->keyed)
		mask_unchanged(p, c->old, t->ncols);
	for (size_t i = 0; i < t->ncols; i++)
		if (c->new->cols[i].kind != 'u' && param(p, t, &c->new->cols[i]) < 0)
			return -1;
	if (where_params(p, t, where) < 0)
		return -1;
	return run(p, pc, t, 'U', "update of");
}

static int
delete(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct sink_change *c)
{
	if (c->old == NULL) {
		log_error("%s: a delete from %s without its old key", __func__, t->qname);
		return -1;
	}
	if (!t->keyed)
		mask_unchanged(p, c->old, t->ncols);
	if (where_params(p, t, c->old) < 0)
		return -1;
	return run(p, pc, t, 'D', "delete from");
}

static int
has_unchanged(const struct tuple *tup)
{
	for (size_t i = 0; i < tup->ncols; i++)
		if (tup->cols[i].kind == 'u')
			return 1;
	return 0;
}

/* Point p->params at the batch's row r (rows rows from there). */
static void
batch_params(struct pg_sink *p, const struct pg_batch *b, size_t r, size_t rows)
{
	size_t n = rows * b->width, at = r * b->width;

	params_reset(p, n);
	for (size_t i = 0; i < n; i++)
		p->params[i] = b->offs[at + i] == SIZE_MAX ? NULL :
		    (const char *)b->vals.data + b->offs[at + i];
	p->nparams = n;
}

/* Rows of the next statement with left rows to send: a full batch, else the
 * largest power of two (at most log2(PG_BATCH) + 2 statements per table). */
static size_t
chunk_rows(const struct pg_tab *t, size_t left)
{
	size_t n = 1;

	if (left >= pgsql_batch_rows(t))
		return pgsql_batch_rows(t);
	while (n * 2 <= left)
		n *= 2;
	return n;
}

static void
batch_forget(struct pg_batch *b)
{
	b->tab = NULL;
	b->rows = 0;
	buf_reset(&b->vals);
}

void
pgsql_forget(struct pg_conn *pc)
{
	batch_forget(&pc->batch);
	pgcopy_abort(pc);
}

int
pgsql_flush(struct pg_sink *p, struct pg_conn *pc)
{
	struct pg_batch *b = &pc->batch;
	struct pg_tab *t = b->tab;
	const char *name, *what;
	char one = b->kind, many = b->kind == 'D' ? 'X' : b->kind == 'N' ? 'N' : 'B';
	size_t n;
	int rc = 0;

	if (pgcopy_end(p, pc) < 0)
		return -1;
	if (t == NULL)
		return 0;
	memset(p->mask, 0, ((size_t)t->ncols * 2 + 7) / 8);
	for (size_t r = 0; r < b->rows && rc == 0; r += n) {
		n = chunk_rows(t, b->rows - r);
		if ((name = var_get(p, pc, t, n > 1 ? many : one, n > 1 ? n : 0)) == NULL) {
			rc = -1;
			break;
		}
		batch_params(p, b, r, n);
		if (one == 'D')
			what = n > 1 ? "delete of rows from" : "delete from";
		else if (one == 'N')
			what = n > 1 ? "insert of rows into" : "insert into";
		else
			what = n > 1 ? "upsert of rows into" : "upsert into";
		rc = pghold_prepared(pc, name, (int)p->nparams, p->params, t, what);
	}
	batch_forget(b);
	return rc;
}

/* Does an upsert of the batch have new's key?  (Then new must wait: one
 * upsert cannot touch a row twice.) */
static int
batch_has_key(const struct pg_batch *b, const struct tuple *new)
{
	const struct pg_tab *t = b->tab;

	for (size_t r = 0; r < b->rows; r++) {
		size_t i;

		for (i = 0; i < t->ncols; i++) {
			const char *v = (const char *)b->vals.data + b->offs[r * t->ncols + i];

			if (!(t->cols[i].flags & REL_COL_KEY))
				continue;
			if (new->cols[i].kind != 't' || b->offs[r * t->ncols + i] == SIZE_MAX ||
			    strlen(v) != new->cols[i].len || memcmp(v, new->cols[i].data, new->cols[i].len))
				break;
		}
		if (i == t->ncols)
			return 1;
	}
	return 0;
}

/* Append row tup's values (every column for an upsert, the keys for a
 * delete) to the batch. */
static int
batch_row(struct pg_batch *b, const struct pg_tab *t, const struct tuple *tup)
{
	size_t at = b->rows * b->width;

	if (at + b->width > b->cap) {
		b->cap = (at + b->width) * 2;
		if ((b->offs = realloc(b->offs, b->cap * sizeof(*b->offs))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	for (size_t i = 0; i < t->ncols; i++) {
		const struct tuple_col *col = &tup->cols[i];

		if (b->kind == 'D' && !(t->cols[i].flags & REL_COL_KEY))
			continue;
		if (col->kind != 't' && col->kind != 'n') {
			log_error("%s: a %s of %s in %s form, expected text", __func__,
			    b->kind == 'D' ? "key" : "value", t->qname,
			    col->kind == 'u' ? "unchanged TOAST" : "binary");
			return -1;
		}
		b->offs[at++] = col->kind == 'n' ? SIZE_MAX : b->vals.len;
		if (col->kind == 't') {
			buf_append(&b->vals, col->data, col->len);
			buf_putc(&b->vals, '\0');
		}
	}
	b->rows++;
	return 0;
}

/* An upsert into (kind 'I') or a delete from ('D') a keyed table, or a new
 * row of a keyless one ('N'), joins pc's batch; a batch of another table or
 * kind is sent first. */
static int
batch_add(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct tuple *tup,
    char kind)
{
	struct pg_batch *b = &pc->batch;

	if ((b->tab != t || b->kind != kind || (kind == 'I' && batch_has_key(b, tup))) &&
	    pgsql_flush(p, pc) < 0)
		return -1;
	if (b->tab == NULL) {
		b->kind = kind;
		b->width = 0;
		for (size_t i = 0; i < t->ncols; i++)
			b->width += kind != 'D' || (t->cols[i].flags & REL_COL_KEY);
	}
	if (batch_row(b, t, tup) < 0)
		return -1;
	b->tab = t;
	if (b->rows == pgsql_batch_rows(t))
		return pgsql_flush(p, pc);
	return 0;
}

static int
check_width(const struct pg_tab *t, const struct tuple *tup)
{
	if (tup == NULL || tup->ncols == t->ncols)
		return 0;
	log_error("%s: a row of %u columns for %s, which has %u", __func__,
	    (unsigned)tup->ncols, t->qname, (unsigned)t->ncols);
	return -1;
}

int
pgsql_apply(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct sink_change *c)
{
	size_t mlen = ((size_t)t->ncols * 2 + 7) / 8;

	if (mlen > p->capmask) {
		p->capmask = mlen;
		if ((p->mask = realloc(p->mask, mlen)) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	if (c->op == 'r' && !pc->no_copy && c->new != NULL && t->ncols > 0 &&
	    check_width(t, c->new) == 0)
		return pgcopy_row(p, pc, t, c->new);
	if (t->keyed && c->new != NULL && check_width(t, c->new) == 0 &&
	    (c->op == 'c' || c->op == 'r' || (c->op == 'u' && c->old == NULL &&
	    !has_unchanged(c->new))))
		return batch_add(p, pc, t, c->new, 'I');
	if (t->keyed && c->op == 'd' && c->old != NULL && check_width(t, c->old) == 0)
		return batch_add(p, pc, t, c->old, 'D');
	if (!t->keyed && c->op == 'c' && c->new != NULL && check_width(t, c->new) == 0)
		return batch_add(p, pc, t, c->new, 'N');
	if (pgsql_flush(p, pc) < 0)
		return -1;
	if (c->op == 't') {
		buf_reset(&p->sql);
		buf_printf(&p->sql, "TRUNCATE %s", t->qname);
		buf_putc(&p->sql, '\0');
		return pghold_sql(pc, (const char *)p->sql.data, t, "truncate of");
	}
	if (check_width(t, c->old) < 0 || check_width(t, c->new) < 0)
		return -1;
	memset(p->mask, 0, mlen);
	params_reset(p, (size_t)t->ncols * 2);
	switch (c->op) {
	case 'c': case 'r':
		if (c->new == NULL)
			break;
		return upsert(p, pc, t, c->new);
	case 'u':
		if (c->new == NULL)
			break;
		return update(p, pc, t, c);
	case 'd':
		return delete(p, pc, t, c);
	default:
		break;
	}
	log_error("%s: change of kind '%c' for %s cannot be applied", __func__, c->op, t->qname);
	return -1;
}
