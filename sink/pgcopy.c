/*
 * pgcopy: snapshot rows (op r) into the target by COPY, which libpq does not
 * pipeline.  The first row of a table pauses the pipeline (pgpipe_pause)
 * inside the open target transaction and opens COPY into the table's
 * staging table (pg_temp, per connection, created on first use in a
 * transaction); rows stream as they arrive.  pgcopy_end merges the staging
 * rows into the table (upsert by key, so a re-read chunk replaces) and
 * empties it, pipelined again, in that same transaction: a chunk is all
 * there at its COMMIT or not at all.  Text format: every value arrives in
 * its text form, which COPY text only needs escaped (binary would need each
 * type's send form; CSV quoting costs as much and reads worse).
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "sink/pg.h"

void
pgcopy_escape(struct buf *out, const char *v, size_t len)
{
	buf_reserve(out, len + 8);
	for (size_t i = 0; i < len; i++) {
		char c = v[i], e;

		switch (c) {
		case '\\': e = '\\'; break;
		case '\n': e = 'n'; break;
		case '\r': e = 'r'; break;
		case '\t': e = 't'; break;
		default:
			buf_putc(out, c);
			continue;
		}
		buf_putc(out, '\\');
		buf_putc(out, e);
	}
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

static int
copy_failed(struct pg_conn *pc, const struct pg_tab *t, const char *what, const PGresult *r)
{
	const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *ctx = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : NULL;
	char l[LSN_BUFLEN], msg[512];

	snprintf(msg, sizeof(msg), "%s", pgpipe_msg(pc->c, r));
	log_error("slot %s: %s %s in transaction %s failed on the target: %s%s%s%s%.*s",
	    pc->slot, what, t->qname, lsn_format(pc->lsn, l), msg, detail ? "; " : "",
	    detail ? detail : "", ctx ? "; " : "", ctx ? (int)strcspn(ctx, "\n") : 0,
	    ctx ? ctx : "");
	pc->broken = 1;
	return -1;
}

/* Pause the pipeline, create t's staging table if it has none, open COPY. */
static int
copy_start(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t)
{
	PGresult *r;

	if (pc->hold.on) {	/* pg.c commits the group first */
		log_error("%s: snapshot rows of %s while a transaction is held", __func__, t->qname);
		return -1;
	}
	if (pgpipe_pause(pc) < 0)
		return -1;
	if (t->stage[0] == '\0') {
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
	buf_reset(&p->sql);
	buf_printf(&p->sql, "COPY pg_temp.\"%s\" FROM STDIN", t->stage);
	buf_putc(&p->sql, '\0');
	r = PQexec(pc->c, (const char *)p->sql.data);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		copy_failed(pc, t, "COPY of snapshot rows into the staging table of", r);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	pc->copy = t;
	return 0;
}

int
pgcopy_row(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct tuple *new)
{
	if (pc->copy != t && (pgsql_flush(p, pc) < 0 || copy_start(p, pc, t) < 0))
		return -1;
	buf_reset(&p->vals);
	if (pgcopy_line(t, new, &p->vals) < 0)
		return -1;
	if (PQputCopyData(pc->c, (const char *)p->vals.data, (int)p->vals.len) != 1)
		return copy_failed(pc, t, "sending snapshot rows of", NULL);
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
			rc = copy_failed(pc, t, "COPY of snapshot rows into the staging table of", r);
		PQclear(r);
	}
	if (pgpipe_resume(pc) < 0)
		pc->broken = 1;
	return pc->broken ? -1 : rc;
}

int
pgcopy_end(struct pg_sink *p, struct pg_conn *pc)
{
	struct pg_tab *t = pc->copy;

	if (t == NULL)
		return 0;
	if (copy_finish(pc, NULL) < 0)
		return -1;
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
