/*
 * pgpipe: statements on a target connection in libpq pipeline mode.  Sends
 * never wait for the server; results are read in order, without blocking
 * every PG_PACE statements and blocking past PG_HIGH, so the server never
 * stalls on results nobody reads (blocking-mode sends cannot deadlock).
 * Each statement's result is one status then NULL, a sync point's one
 * PGRES_PIPELINE_SYNC; the ring holds both kinds in order.  The first error
 * is logged with its statement, table and source transaction.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "sink/pg.h"

void
pgpipe_ident(struct buf *b, const char *name)
{
	buf_putc(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			buf_putc(b, '"');
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

/* The first line of a libpq message (they end in newlines). */
static void
first_line(const char *msg, char *out, size_t len)
{
	size_t n = strcspn(msg, "\n");

	snprintf(out, len, "%.*s", (int)n, msg);
}

const char *
pgpipe_msg(PGconn *c, const PGresult *r)
{
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	static char msg[512];

	if (primary != NULL)
		first_line(primary, msg, sizeof(msg));
	else
		first_line(r != NULL && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) :
		    PQerrorMessage(c), msg, sizeof(msg));
	return msg[0] ? msg : "(no message)";
}

void
pgpipe_log_failure(const struct pg_conn *pc, const char *what, const struct pg_tab *t,
    lsn_t lsn, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *ctx = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : NULL;
	char msg[512], l[LSN_BUFLEN];

	snprintf(msg, sizeof(msg), "%s", pgpipe_msg(pc->c, r));
	log_error("slot %s: %s%s%s in transaction %s failed on the target: %s%s%s%s%s%s%s%.*s",
	    pc->slot, what, t ? " " : "", t ? t->qname : "", lsn_format(lsn, l),
	    state ? "SQLSTATE " : "", state ? state : "", state ? " " : "", msg,
	    detail ? "; " : "", detail ? detail : "", ctx ? "; " : "",
	    ctx ? (int)strcspn(ctx, "\n") : 0, ctx ? ctx : "");
}

static int
send_failed(struct pg_conn *pc, const char *what, const struct pg_tab *t)
{
	log_error("slot %s: sending %s%s%s to the target: %s", pc->slot, what,
	    t ? " " : "", t ? t->qname : "", pgpipe_msg(pc->c, NULL));
	pc->broken = 1;
	return -1;
}

/* Read one result or end of result.  1 progress, 0 nothing ready (only if
 * !block), -1 an error (logged). */
static int
pump_one(struct pg_conn *pc, int block)
{
	const struct pg_pend *e = &pc->ring[pc->head];
	PGresult *r;
	int rc = 1;

	if (pc->npending == 0)
		return 0;
	if (!block) {
		if (!PQconsumeInput(pc->c))
			goto lost;
		if (PQisBusy(pc->c))
			return 0;
	}
	if ((r = PQgetResult(pc->c)) == NULL) {
		if (e->what == NULL || !pc->got)
			goto lost;
		pc->got = 0;
		pc->head = (pc->head + 1) % PG_RING;
		pc->npending--;
		return 1;
	}
	switch (PQresultStatus(r)) {
	case PGRES_PIPELINE_SYNC:
		if (e->what != NULL) {
			PQclear(r);
			goto lost;
		}
		pc->head = (pc->head + 1) % PG_RING;
		pc->npending--;
		break;
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		pc->got = 1;
		break;
	default:
		if (e->what != NULL)
			pgpipe_log_failure(pc, e->what, e->tab, e->lsn, r);
		else
			log_error("slot %s: target connection: %s", pc->slot,
			    PQresStatus(PQresultStatus(r)));
		rc = pc->broken = -1;
	}
	PQclear(r);
	return rc;
lost:
	log_error("slot %s: target connection: %s", pc->slot,
	    *PQerrorMessage(pc->c) ? pgpipe_msg(pc->c, NULL) : "results out of step");
	pc->broken = 1;
	return -1;
}

/* Read results until at most `left` entries are in flight. */
static int
pump_until(struct pg_conn *pc, size_t left)
{
	if (pc->unflushed > 0) {
		if (!PQsendFlushRequest(pc->c) || PQflush(pc->c) != 0) {
			log_error("slot %s: target connection: %s", pc->slot, pgpipe_msg(pc->c, NULL));
			return -1;
		}
		pc->unflushed = 0;
	}
	while (pc->npending > left)
		if (pump_one(pc, 1) < 0)
			return -1;
	return 0;
}

/* Book-keeping after a statement (what) or a sync point (NULL) went into
 * the pipeline; keeps fewer than PG_HIGH in flight. */
static int
queued(struct pg_conn *pc, const struct pg_tab *t, const char *what)
{
	struct pg_pend *e = &pc->ring[(pc->head + pc->npending) % PG_RING];
	int rc;

	e->tab = t;
	e->what = what;
	e->lsn = pc->lsn;
	pc->npending++;
	if (what == NULL) {
		pc->unflushed = 0;	/* the server flushes at a sync point */
		return 0;
	}
	pc->unflushed++;
	if (pc->npending >= PG_HIGH)
		return pump_until(pc, PG_HIGH / 2);
	if (pc->unflushed < PG_PACE)
		return 0;
	if (!PQsendFlushRequest(pc->c) || PQflush(pc->c) != 0)
		return send_failed(pc, "a flush request", NULL);
	pc->unflushed = 0;
	while ((rc = pump_one(pc, 0)) > 0)
		;
	return rc;
}

int
pgpipe_prepared(struct pg_conn *pc, const char *name, int n, const char *const *vals,
    const struct pg_tab *t, const char *what)
{
	if (!PQsendQueryPrepared(pc->c, name, n, vals, NULL, NULL, 0))
		return send_failed(pc, what, t);
	return queued(pc, t, what);
}

int
pgpipe_sql(struct pg_conn *pc, const char *sql, const struct pg_tab *t, const char *what)
{
	if (!PQsendQueryParams(pc->c, sql, 0, NULL, NULL, NULL, NULL, 0))
		return send_failed(pc, what, t);
	return queued(pc, t, what);
}

int
pgpipe_prepare(struct pg_conn *pc, const char *name, const char *sql, const struct pg_tab *t)
{
	if (!PQsendPrepare(pc->c, name, sql, 0, NULL))
		return send_failed(pc, "prepare of a statement for", t);
	return queued(pc, t, "prepare of a statement for");
}

int
pgpipe_sync(struct pg_conn *pc)
{
	if (!PQpipelineSync(pc->c))
		return send_failed(pc, "a sync point", NULL);
	return queued(pc, NULL, NULL);
}

int
pgpipe_wait(struct pg_conn *pc)
{
	return pump_until(pc, 0);
}

int
pgpipe_drain(struct pg_conn *pc)
{
	if (pc->npending == 0)
		return 0;
	return pgpipe_sync(pc) < 0 ? -1 : pgpipe_wait(pc);
}

int
pgpipe_pause(struct pg_conn *pc)
{
	if (pgpipe_drain(pc) < 0)
		return -1;
	if (!PQexitPipelineMode(pc->c)) {
		log_error("slot %s: target connection: leaving pipeline mode: %s", pc->slot,
		    pgpipe_msg(pc->c, NULL));
		return -1;
	}
	return 0;
}

int
pgpipe_resume(struct pg_conn *pc)
{
	if (!PQenterPipelineMode(pc->c)) {
		log_error("slot %s: target connection: entering pipeline mode: %s", pc->slot,
		    pgpipe_msg(pc->c, NULL));
		return -1;
	}
	return 0;
}

int
pgpipe_exec(PGconn *c, const char *sql, ExecStatusType expect, const char *what)
{
	PGresult *r = PQexec(c, sql);
	const char *detail;
	char msg[512];
	int rc = 0;

	if (PQresultStatus(r) != expect) {
		snprintf(msg, sizeof(msg), "%s", pgpipe_msg(c, r));
		detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
		log_error("%s on the target failed: %s%s%s", what, msg, detail ? "; " : "",
		    detail ? detail : "");
		rc = -1;
	}
	PQclear(r);
	return rc;
}
