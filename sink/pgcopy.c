/*
 * pgcopy: snapshot rows (op r) into the target by COPY, which libpq does not
 * pipeline.  The first row of a table pauses the pipeline (pgpipe_pause)
 * inside the open target transaction and opens COPY; rows stream as they
 * arrive.  Straight into the table when no row can conflict: integer keys
 * (same order on both sides), none at or past the first row's in the table
 * (one index probe), and each row's key past the last one's.  Otherwise (or
 * from the first row out of order on) into the table's staging table
 * (pg_temp, per connection, created on first use in a transaction), which
 * pgcopy_end merges into the table (upsert by key, so a re-read chunk
 * replaces) and empties, pipelined again.  All in the chunk's transaction:
 * a chunk is all there at its COMMIT or not at all.  Text format: every value arrives in
 * its text form, which COPY text only needs escaped (binary would need each
 * type's send form; CSV quoting costs as much and reads worse).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "sink/pg.h"

/* The escape letter of each byte COPY text format escapes, else 0. */
static const char escapes[256] = { ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't' };

void
pgcopy_escape(struct buf *out, const char *v, size_t len)
{
	size_t run = 0;

	buf_reserve(out, len + 8);
	for (size_t i = 0; i < len; i++) {
		char e = escapes[(uint8_t)v[i]];

		if (e == 0)
			continue;
		buf_append(out, v + run, i - run);	/* the plain bytes before it */
		buf_putc(out, '\\');
		buf_putc(out, e);
		run = i + 1;
	}
	buf_append(out, v + run, len - run);
}

int
pgcopy_line(const struct pg_tab *t, const struct tuple *tup, struct buf *out)
{
	for (size_t i = 0; i < tup->ncols; i++) {
		const struct tuple_col *col = &tup->cols[i];

		if (i > 0)
			buf_putc(out, '\t');
		if (col->kind == 'n') {
			buf_puts(out, "\\N");
		} else if (col->kind == 't') {
			pgcopy_escape(out, (const char *)col->data, col->len);
		} else {
			log_error("%s: a value of %s in %s form, expected text", __func__, t->qname,
			    col->kind == 'u' ? "unchanged TOAST" : "binary");
			return -1;
		}
	}
	buf_putc(out, '\n');
	return 0;
}

/* The key values of tup, NUL-terminated in p->vals, into vals. */
static void
params_text(struct pg_sink *p, const struct pg_tab *t, const struct tuple *tup,
    const char **vals)
{
	size_t offs[PG_COPY_KEYS], k = 0;

	buf_reset(&p->vals);
	for (size_t i = 0; i < t->ncols && k < PG_COPY_KEYS; i++) {
		if (!(t->cols[i].flags & REL_COL_KEY))
			continue;
		offs[k++] = p->vals.len;
		buf_append(&p->vals, tup->cols[i].data, tup->cols[i].len);
		buf_putc(&p->vals, '\0');
	}
	for (size_t i = 0; i < k; i++)
		vals[i] = (const char *)p->vals.data + offs[i];
}

static int
copy_failed(struct pg_conn *pc, const struct pg_tab *t, const char *what, const PGresult *r)
{
	pgpipe_log_failure(pc, what, t, pc->lsn, r);
	pc->broken = 1;
	return -1;
}

/* pgcopy_key with t's integer key columns counted already (n). */
static int
pgcopy_key_n(const struct pg_tab *t, const struct tuple *tup, int64_t *key, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < t->ncols && i < tup->ncols; i++) {
		const struct tuple_col *col = &tup->cols[i];
		uint64_t v = 0;
		size_t j;
		int neg;

		if (!(t->cols[i].flags & REL_COL_KEY))
			continue;
		if (col->kind != 't' || col->len == 0 || k == PG_COPY_KEYS)
			return -1;
		neg = col->data[0] == '-';
		for (j = (size_t)neg; j < col->len; j++) {
			if (col->data[j] < '0' || col->data[j] > '9' || v > (UINT64_C(1) << 63) / 10)
				return -1;
			v = v * 10 + (uint64_t)(col->data[j] - '0');
		}
		if (j == (size_t)neg || v > (UINT64_C(1) << 63) - !neg)
			return -1;
		key[k++] = neg ? (int64_t)(0 - v) : (int64_t)v;
	}
	return k > 0 && k == n ? 0 : -1;
}

int
pgcopy_key(const struct pg_tab *t, const struct tuple *tup, int64_t *key)
{
	return pgcopy_key_n(t, tup, key, pgsql_int_keys(t));
}

/* Does new's key come after the last row's (then it goes straight in)? */
static int
key_after(struct pg_conn *pc, const struct pg_tab *t, const struct tuple *new)
{
	int64_t key[PG_COPY_KEYS];
	size_t n = pc->copy_nkeys;

	if (pgcopy_key_n(t, new, key, n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (key[i] != pc->copy_key[i]) {
			if (key[i] < pc->copy_key[i])
				return 0;
			memcpy(pc->copy_key, key, n * sizeof(*key));
			return 1;
		}
	return 0;
}

/* With the pipeline paused: may t's rows from new's key on go straight into
 * t?  (No row of t is at or past it.)  1 yes, 0 no, -1 error. */
static int
direct_ok(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct tuple *new)
{
	const char *vals[PG_COPY_KEYS];
	size_t n = pgsql_int_keys(t);
	PGresult *r;
	int rc;

	if (n == 0 || pgcopy_key(t, new, pc->copy_key) < 0)
		return 0;
	params_text(p, t, new, vals);
	pgsql_build(t, 'P', NULL, &p->sql);
	r = PQexecParams(pc->c, (const char *)p->sql.data, (int)n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		copy_failed(pc, t, "looking for rows ahead of snapshot rows in", r);
		PQclear(r);
		return -1;
	}
	rc = PQgetvalue(r, 0, 0)[0] == 'f';
	PQclear(r);
	return rc;
}

/* Pause the pipeline; open COPY straight into t if direct and direct_ok,
 * else into its staging table (made if it has none). */
static int
copy_start(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct tuple *new,
    int direct)
{
	PGresult *r;

	if (pc->hold.on) {	/* pg.c commits the group first */
		log_error("%s: snapshot rows of %s while a transaction is held", __func__, t->qname);
		return -1;
	}
	if (pgpipe_pause(pc) < 0 || (direct && (direct = direct_ok(p, pc, t, new)) < 0))
		return -1;
	if (!direct && t->stage[0] == '\0') {
		snprintf(t->stage, sizeof(t->stage), "pgcdc_stage_%llu",
		    (unsigned long long)++pc->seq);
		pgsql_build(t, 'S', NULL, &p->sql);
		if (pgpipe_exec(pc->c, (const char *)p->sql.data, PGRES_COMMAND_OK,
		    "creating a staging table") < 0) {
			t->stage[0] = '\0';
			pc->broken = 1;
			return -1;
		}
	}
	if (direct) {
		pgsql_build(t, 'C', NULL, &p->sql);
	} else {
		buf_reset(&p->sql);
		buf_printf(&p->sql, "COPY pg_temp.\"%s\" FROM STDIN", t->stage);
		buf_putc(&p->sql, '\0');
	}
	r = PQexec(pc->c, (const char *)p->sql.data);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		copy_failed(pc, t, "COPY of snapshot rows into", r);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	pc->copy = t;
	pc->copy_direct = direct;
	pc->copy_nkeys = pgsql_int_keys(t);
	return 0;
}

/* End COPY (with an error message: abort it) and read its result. */
static int
copy_finish(struct pg_conn *pc, const char *abort)
{
	const struct pg_tab *t = pc->copy;
	PGresult *r;
	int rc = 0;

	pc->copy = NULL;
	if (PQputCopyEnd(pc->c, abort) != 1)
		return copy_failed(pc, t, "ending the COPY of snapshot rows into", NULL);
	while ((r = PQgetResult(pc->c)) != NULL) {
		if (abort == NULL && rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = copy_failed(pc, t, pc->copy_direct ? "COPY of snapshot rows into" :
			    "COPY of snapshot rows into the staging table of", r);
		PQclear(r);
	}
	if (pgpipe_resume(pc) < 0)
		pc->broken = 1;
	return pc->broken ? -1 : rc;
}

int
pgcopy_row(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct tuple *new)
{
	/* A row out of key order could meet a row of t: the rest of the chunk
	 * goes by the staging table (what went in directly stays). */
	if (pc->copy == t && pc->copy_direct && !key_after(pc, t, new)) {
		log_debug("slot %s: snapshot rows of %s out of key order: the rest of the "
		    "chunk goes by its staging table", pc->slot, t->qname);
		if (copy_finish(pc, NULL) < 0 || copy_start(p, pc, t, new, 0) < 0)
			return -1;
	}
	if (pc->copy != t && (pgsql_flush(p, pc) < 0 || copy_start(p, pc, t, new, 1) < 0))
		return -1;
	buf_reset(&p->vals);
	if (pgcopy_line(t, new, &p->vals) < 0)
		return -1;
	if (PQputCopyData(pc->c, (const char *)p->vals.data, (int)p->vals.len) != 1)
		return copy_failed(pc, t, "sending snapshot rows of", NULL);
	return 0;
}

int
pgcopy_end(struct pg_sink *p, struct pg_conn *pc)
{
	struct pg_tab *t = pc->copy;

	if (t == NULL)
		return 0;
	if (copy_finish(pc, NULL) < 0)
		return -1;
	if (pc->copy_direct)
		return 0;
	pgsql_build(t, 'M', NULL, &p->sql);
	if (pgpipe_sql(pc, (const char *)p->sql.data, t, "merge of snapshot rows into") < 0)
		return -1;
	pgsql_build(t, 'T', NULL, &p->sql);
	return pgpipe_sql(pc, (const char *)p->sql.data, t, "emptying the staging table of");
}

void
pgcopy_abort(struct pg_conn *pc)
{
	if (pc->copy != NULL)
		(void)copy_finish(pc, "the source transaction rolled back");
}
