/*
 * snapread: a snapshot chunk's asynchronous read (see snapread.h).  The
 * query's result is taken whole when it is complete (single-row mode costs
 * a PGresult per row); the loop polls the connection's socket meanwhile.
 * Rows are written in place after one reservation each: nothing is
 * allocated per row once the window's buffers have grown.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "worker/snapread.h"

static inline uint8_t *
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* Row `row` of r as a pgoutput Insert, and its key.  libpq gives a NULL
 * length 0, so only an empty value needs PQgetisnull. */
static void
encode_row(struct snapwin *w, const PGresult *r, int row)
{
	struct buf *rows = chunk_row_start(&w->c);
	struct buf *keys = &w->c.keys;
	int ncols = PQnfields(r);
	uint8_t *p;

	buf_reserve(rows, 8);
	p = rows->data + rows->len;
	*p++ = 'I';
	p = put_be32(p, w->relid);
	*p++ = 'N';
	*p++ = (uint8_t)(ncols >> 8);
	*p++ = (uint8_t)ncols;
	rows->len += 8;
	for (int c = 0; c < ncols; c++) {
		uint32_t len = (uint32_t)PQgetlength(r, row, c);

		buf_reserve(rows, 5 + (size_t)len);
		p = rows->data + rows->len;
		if (len == 0 && PQgetisnull(r, row, c)) {
			*p = 'n';
			rows->len++;
			continue;
		}
		*p++ = 't';
		p = put_be32(p, len);
		memcpy(p, PQgetvalue(r, row, c), len);
		rows->len += 5 + (size_t)len;
	}
	for (int k = 0; k < w->nkeys; k++) {
		int c = w->keypos[k];
		uint32_t len = (uint32_t)PQgetlength(r, row, c);

		if (len == 0 && PQgetisnull(r, row, c))
			chunk_key_null(keys);
		else
			chunk_key_put(keys, PQgetvalue(r, row, c), len);
	}
	chunk_row_end(&w->c);
}

/* The table's shape as this chunk reads it. */
static void
keep_shape(struct snapwin *w, const struct stable *t)
{
	w->relid = t->relid;
	buf_reset(&w->relmsg);
	buf_append(&w->relmsg, t->relmsg.data, t->relmsg.len);
	buf_reset(&w->typmsgs);
	buf_append(&w->typmsgs, t->typmsgs.data, t->typmsgs.len);
	if ((size_t)t->nkeys > w->keycap) {
		w->keycap = (size_t)t->nkeys;
		if ((w->keypos = realloc(w->keypos, w->keycap * sizeof(int))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	if (t->nkeys > 0)
		memcpy(w->keypos, t->keypos, (size_t)t->nkeys * sizeof(int));
	w->nkeys = t->nkeys;
}

int
snapread_start(struct snapwin *w, PGconn *c, const struct stable *t, long chunk_rows,
    int plan, struct buf *scratch)
{
	PGresult *snapr;
	int rc;

	chunk_reset(&w->c);
	buf_reset(&w->pend);
	buf_reset(&w->upper);
	w->pend_all = w->read_err = 0;
	keep_shape(w, t);
	if (pgconn_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK) < 0)
		return -1;
	if ((snapr = snaptab_sql(c, "SELECT pg_current_snapshot()::text", 0, NULL,
	    PGRES_TUPLES_OK)) == NULL)
		goto fail;
	rc = race_snapshot(&w->rs, PQgetvalue(snapr, 0, 0));
	PQclear(snapr);
	if (rc < 0 || (plan && snaptab_plan_ctid(c, t, &w->lower, &w->hi, &w->last) < 0) ||
	    snaptab_send_query(c, t, &w->lower, w->use_hi ? &w->hi : NULL, chunk_rows,
	    scratch) < 0)
		goto fail;
	w->reading = 1;
	return 0;
fail:
	pgconn_exec(c, "ROLLBACK", PGRES_COMMAND_OK);
	return -1;
}

int
snapread_more(struct snapwin *w, PGconn *c, const char *name)
{
	PGresult *r;
	const char *e;

	if (!PQconsumeInput(c)) {
		e = PQerrorMessage(c);
		log_error("snapshot of %s: %.*s", name, (int)strcspn(e, "\n"), e);
		return -1;
	}
	while (!PQisBusy(c)) {
		if ((r = PQgetResult(c)) == NULL)
			return 1;
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			for (int i = 0, n = PQntuples(r); i < n; i++)
				encode_row(w, r, i);
		} else {
			e = PQresultErrorMessage(r);
			log_error("snapshot of %s: %.*s", name, (int)strcspn(e, "\n"), e);
			w->read_err = 1;
		}
		PQclear(r);
	}
	return 0;
}

int
snapread_end(struct snapwin *w, PGconn *c, long chunk_rows)
{
	struct rd rd;
	const uint8_t *key;
	uint32_t n;
	int ok = !w->read_err;

	w->reading = 0;
	if (pgconn_exec(c, ok ? "COMMIT" : "ROLLBACK", PGRES_COMMAND_OK) < 0 || !ok)
		return -1;
	buf_reset(&w->upper);
	if (w->use_hi) {
		buf_append(&w->upper, w->hi.data, w->hi.len);
	} else {
		w->last = w->c.n < (size_t)chunk_rows;
		if (!w->last)
			chunk_last_key(&w->c, &w->upper);
	}
	if (w->pend_all)
		chunk_drop_all(&w->c);
	rd_init(&rd, w->pend.data, w->pend.len);
	while (rd_u32(&rd, &n) == 0 && rd_bytes(&rd, n, &key) == 0)
		chunk_drop(&w->c, key, n);
	buf_reset(&w->pend);
	w->pend_all = 0;
	return 0;
}

void
snapread_abort(struct snapwin *w, PGconn *c)
{
	PGresult *r;

	if (!w->reading)
		return;
	w->reading = 0;
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	pgconn_exec(c, "ROLLBACK", PGRES_COMMAND_OK);
}

void
snapread_drop(struct snapwin *w, const uint8_t *key, size_t len)
{
	if (w->reading) {	/* its row may not have arrived yet */
		buf_put_u32(&w->pend, (uint32_t)len);
		buf_append(&w->pend, key, len);
	} else {
		chunk_drop(&w->c, key, len);
	}
}

void
snapread_drop_all(struct snapwin *w)
{
	if (w->reading)
		w->pend_all = 1;
	else
		chunk_drop_all(&w->c);
}

void
snapwin_free(struct snapwin *w)
{
	chunk_free(&w->c);
	buf_free(&w->lower); buf_free(&w->hi); buf_free(&w->upper); buf_free(&w->pend);
	buf_free(&w->relmsg); buf_free(&w->typmsgs);
	race_snap_free(&w->rs);
	free(w->keypos);
	memset(w, 0, sizeof(*w));
}
