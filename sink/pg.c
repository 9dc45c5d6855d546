/*
 * pg: the postgres sink.  Consecutive source transactions of a slot apply
 * in one target transaction of its connection (a group), committed with
 * synchronous_commit off together with the slot's row in pgcdc.positions
 * (end_lsn of the group's last transaction, snapshot chunk ids per table)
 * at each flush or after PG_GROUP.  A source transaction only joins a group
 * whole: begun on top of one, it is held (pghold.c) until its COMMIT.
 * Flush then waits for every result and makes all of it durable with one
 * synchronous commit on the control connection (WAL is flushed in order),
 * before the core commits LMDB and acks.  So the target never holds half a
 * transaction, and what it holds is at least what LMDB says: held() reads
 * the positions at open, after an exclusive advisory lock has waited out
 * every backend of a previous run of this sink.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sink/pg.h"

/* Session settings: values in and out in the forms the source sends. */
#define PG_OPTIONS "-c datestyle=ISO -c intervalstyle=postgres " \
	"-c extra_float_digits=3 -c TimeZone=UTC -c bytea_output=hex " \
	"-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 " \
	"-c lock_timeout=60s -c client_connection_check_interval=1s "

#define PG_LOCK "hashtext('pgcdc sink'), hashtext($1)"

/* pgcdc.positions: per sink and slot, the end_lsn of the last source
 * transaction applied (tbl ''), and per table the last snapshot chunk.
 * pgcdc.flushes: rewritten with a synchronous commit at each group commit,
 * which makes the asynchronous commits before it durable. */
static const char *const setup_sql =
	"CREATE SCHEMA IF NOT EXISTS pgcdc;\n"
	"CREATE TABLE IF NOT EXISTS pgcdc.positions (\n"
	"  sink text NOT NULL, slot text NOT NULL, tbl text NOT NULL DEFAULT '',\n"
	"  end_lsn pg_lsn, chunk bigint, PRIMARY KEY (sink, slot, tbl));\n"
	"CREATE TABLE IF NOT EXISTS pgcdc.flushes (\n"
	"  sink text PRIMARY KEY, flushes bigint NOT NULL, at timestamptz NOT NULL)";

#define POS_SQL "INSERT INTO pgcdc.positions (sink, slot, tbl, end_lsn) " \
	"VALUES ($1, $2, '', $3) ON CONFLICT (sink, slot, tbl) DO UPDATE SET end_lsn = EXCLUDED.end_lsn"
#define CHUNK_SQL "INSERT INTO pgcdc.positions (sink, slot, tbl, chunk) " \
	"VALUES ($1, $2, $3, $4) ON CONFLICT (sink, slot, tbl) DO UPDATE SET chunk = EXCLUDED.chunk"
#define FLUSH_SQL "INSERT INTO pgcdc.flushes VALUES ($1, 1, now()) ON CONFLICT (sink) " \
	"DO UPDATE SET flushes = pgcdc.flushes.flushes + 1, at = now()"

/* Notices ("schema ... already exists, skipping") are not news. */
static void
notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("target: %.*s", (int)strcspn(msg, "\n"), msg);
}

static PGconn *
connect_to(const struct sink *s, const char *role, int sync)
{
	char app[96], safe[1024], opts[512];
	const char *keys[] = { "dbname", "options", "application_name", NULL };
	const char *vals[] = { s->conf->conninfo, opts, app, NULL };
	PGconn *c;

	snprintf(app, sizeof(app), "pgcdc sink %s %s", s->conf->name, role);
	snprintf(opts, sizeof(opts), "%s-c synchronous_commit=%s", PG_OPTIONS, sync ? "on" : "off");
	c = PQconnectdbParams(keys, vals, 1);
	if (c != NULL && PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, notice, NULL);
		return c;
	}
	log_redact(s->conf->conninfo, safe, sizeof(safe));
	log_error("%s: connect to the target (%s) for %s: %s", __func__, safe, role,
	    c ? pgpipe_msg(c, NULL) : "out of memory");
	PQfinish(c);
	return NULL;
}

static int
exec1(PGconn *c, const char *sql, const char *arg, ExecStatusType expect, const char *what)
{
	const char *v[1] = { arg };
	PGresult *r = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(r) != expect) {
		log_error("%s on the target failed: %s", what, pgpipe_msg(c, r));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Read this sink's rows of pgcdc.positions. */
static int
load_positions(struct sink *s, struct pg_sink *p)
{
	const char *v[1] = { s->conf->name };
	PGresult *r = PQexecParams(p->ctl, "SELECT slot, tbl, coalesce(end_lsn, '0/0'), "
	    "coalesce(chunk, 0) FROM pgcdc.positions WHERE sink = $1", 1, NULL, v, NULL, NULL, 0);
	int n = PQntuples(r);

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("%s: reading pgcdc.positions on the target: %s (a table of that "
		    "name with other columns? pgcdc needs sink, slot, tbl, end_lsn, chunk)",
		    __func__, pgpipe_msg(p->ctl, r));
		PQclear(r);
		return -1;
	}
	if ((p->pos = calloc((size_t)n + 1, sizeof(*p->pos))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	for (int i = 0; i < n; i++) {
		struct pg_pos *e = &p->pos[p->npos];

		snprintf(e->slot, sizeof(e->slot), "%s", PQgetvalue(r, i, 0));
		snprintf(e->tbl, sizeof(e->tbl), "%s", PQgetvalue(r, i, 1));
		if (lsn_parse(PQgetvalue(r, i, 2), &e->end_lsn) == 0)
			e->chunk = strtoull(PQgetvalue(r, i, 3), NULL, 10);
		p->npos++;
	}
	PQclear(r);
	return 0;
}

static int
pg_open(struct sink *s)
{
	struct pg_sink *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -1;
	s->impl = p;
	if ((p->ctl = connect_to(s, "control", 1)) == NULL ||
	    pgpipe_exec(p->ctl, setup_sql, PGRES_COMMAND_OK, "creating pgcdc.positions") < 0)
		return -1;
	/* Backends of a killed run may still be finishing their last commits:
	 * they hold the lock shared until they are gone. */
	if (exec1(p->ctl, "SELECT pg_advisory_lock(" PG_LOCK ")", s->conf->name,
	    PGRES_TUPLES_OK, "waiting for a previous run of this sink to end") < 0 ||
	    load_positions(s, p) < 0 ||
	    exec1(p->ctl, "SELECT pg_advisory_unlock(" PG_LOCK ")", s->conf->name,
	    PGRES_TUPLES_OK, "releasing the sink's lock") < 0)
		return -1;
	log_info("target connected; %zu position row(s) held there", p->npos);
	return 0;
}

static const struct pg_pos *
pos_find(const struct pg_sink *p, const char *slot, const char *tbl)
{
	for (size_t i = 0; i < p->npos; i++)
		if (strcmp(p->pos[i].slot, slot) == 0 && strcmp(p->pos[i].tbl, tbl) == 0)
			return &p->pos[i];
	return NULL;
}

static int
pg_held(struct sink *s, const char *slot, lsn_t *applied)
{
	const struct pg_pos *e = pos_find(s->impl, slot, "");
	char l[LSN_BUFLEN];

	*applied = e ? e->end_lsn : 0;
	log_info("slot %s: the target holds its transactions up to %s", slot,
	    lsn_format(*applied, l));
	return 0;
}

static int
pg_held_chunk(struct sink *s, const char *slot, const char *table, uint64_t *chunk)
{
	const struct pg_pos *e = pos_find(s->impl, slot, table);

	*chunk = e ? e->chunk : 0;
	return 0;
}

static struct pg_conn *
conn_find(struct pg_sink *p, const char *slot)
{
	if (p->last != NULL && strcmp(p->last->slot, slot) == 0)
		return p->last;
	for (size_t i = 0; i < p->nconns; i++)
		if (strcmp(p->conns[i]->slot, slot) == 0)
			return p->last = p->conns[i];
	return NULL;
}

static int
conn_setup(struct sink *s, struct pg_conn *pc)
{
	PGresult *r;
	int ok;

	if (exec1(pc->c, "SELECT pg_advisory_lock_shared(" PG_LOCK ")", s->conf->name,
	    PGRES_TUPLES_OK, "taking the sink's lock") < 0)
		return -1;
	r = PQprepare(pc->c, "pgcdc_pos", POS_SQL, 0, NULL);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	r = ok ? PQprepare(pc->c, "pgcdc_chunk", CHUNK_SQL, 0, NULL) : NULL;
	ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		log_error("%s: preparing position statements on the target: %s", __func__,
		    pgpipe_msg(pc->c, NULL));
		return -1;
	}
	/* Snapshot rows go by COPY into a temporary table, if we may make one. */
	r = PQexec(pc->c, "SELECT has_database_privilege(current_database(), 'TEMP')");
	pc->no_copy = PQresultStatus(r) != PGRES_TUPLES_OK || PQgetvalue(r, 0, 0)[0] != 't';
	PQclear(r);
	if (pc->no_copy)
		log_warn("slot %s: no TEMP privilege on the target database: snapshot rows "
		    "go as upserts, not by COPY (fix: GRANT TEMP ON DATABASE to the sink's "
		    "user)", pc->slot);
	return pgpipe_resume(pc);
}

/* The connection of slot sl, opened on first use. */
static struct pg_conn *
conn_get(struct sink *s, const struct sink_slot *sl)
{
	struct pg_sink *p = s->impl;
	struct pg_conn *pc = conn_find(p, sl->name), **v;

	if (pc != NULL)
		return pc->broken ? NULL : pc;
	if ((pc = calloc(1, sizeof(*pc))) == NULL ||
	    (v = realloc(p->conns, (p->nconns + 1) * sizeof(*v))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	p->conns = v;
	p->conns[p->nconns++] = pc;
	snprintf(pc->slot, sizeof(pc->slot), "%s", sl->name);
	pc->broken = 1;
	if ((pc->c = connect_to(s, sl->name, 0)) == NULL || conn_setup(s, pc) < 0)
		return NULL;
	pc->broken = 0;
	return p->last = pc;
}

/* The table state of relid on pc (created empty on first use). */
static struct pg_tab *
tab_get(struct pg_conn *pc, uint32_t relid)
{
	size_t i;

	if (pc->ntabs * 2 >= pc->captabs) {
		size_t cap = pc->captabs ? pc->captabs * 2 : 64;
		struct pg_tab **n = calloc(cap, sizeof(*n));

		if (n == NULL)
			fatal(1, "%s: out of memory", __func__);
		for (size_t j = 0; j < pc->captabs; j++) {
			if (pc->tabs[j] == NULL)
				continue;
			for (i = pc->tabs[j]->relid & (cap - 1); n[i]; i = (i + 1) & (cap - 1))
				;
			n[i] = pc->tabs[j];
		}
		free(pc->tabs);
		pc->tabs = n;
		pc->captabs = cap;
	}
	for (i = relid & (pc->captabs - 1); pc->tabs[i]; i = (i + 1) & (pc->captabs - 1))
		if (pc->tabs[i]->relid == relid)
			return pc->tabs[i];
	if ((pc->tabs[i] = calloc(1, sizeof(**pc->tabs))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	pc->tabs[i]->relid = relid;
	pc->tabs[i]->stale = 1;
	pc->ntabs++;
	return pc->tabs[i];
}

/* Queue the chunk ids of sl that moved since they were last written. */
static int
put_chunks(struct sink *s, struct sink_slot *sl, struct pg_conn *pc)
{
	char id[24];

	if (sl->nchunks > pc->nchunks) {
		uint64_t *n = realloc(pc->chunks, sl->nchunks * sizeof(*n));

		if (n == NULL)
			fatal(1, "%s: out of memory", __func__);
		memset(n + pc->nchunks, 0, (sl->nchunks - pc->nchunks) * sizeof(*n));
		pc->chunks = n;
		pc->nchunks = sl->nchunks;
	}
	for (size_t i = 0; i < sl->nchunks; i++) {
		const char *v[4] = { s->conf->name, sl->name, sl->chunks[i].table, id };

		if (sl->chunks[i].applied == pc->chunks[i])
			continue;
		snprintf(id, sizeof(id), "%llu", (unsigned long long)sl->chunks[i].applied);
		if (pgpipe_prepared(pc, "pgcdc_chunk", 4, v, NULL, "position of a chunk") < 0)
			return -1;
		pc->chunks[i] = sl->chunks[i].applied;
	}
	return 0;
}

/* Commit the complete source transactions of pc's group with sl's
 * positions (sl->applied is the end of the last of them); a transaction
 * held on top of them goes on, sent, in a target transaction of its own. */
static int
group_commit(struct sink *s, struct sink_slot *sl, struct pg_conn *pc)
{
	char l[LSN_BUFLEN];
	const char *v[3] = { s->conf->name, sl->name, lsn_format(sl->applied, l) };
	lsn_t lsn = pc->lsn;
	int held = pc->hold.on;

	if (pc->ntx == 0)
		return 0;
	pc->lsn = pc->group_lsn;	/* errors name the group's last transaction */
	if ((!held && pgsql_flush(s->impl, pc) < 0) ||
	    pgpipe_prepared(pc, "pgcdc_pos", 3, v, NULL, "position") < 0 ||
	    put_chunks(s, sl, pc) < 0 || pgpipe_sql(pc, "COMMIT", NULL, "COMMIT") < 0)
		return -1;
	pc->lsn = lsn;
	pc->in_txn = 0;
	pc->ntx = 0;
	pc->unsynced = 1;
	if (!held)
		return 0;
	if (pgpipe_sql(pc, "BEGIN", NULL, "BEGIN") < 0)
		return -1;
	pc->in_txn = 1;
	return pghold_release(pc);
}

static int
pg_change(struct sink *s, struct sink_slot *sl, const struct sink_change *c)
{
	struct pg_conn *pc;
	struct pg_tab *t;

	if (c->op == 'm')	/* a logical decoding message: no table to apply it to */
		return 0;
	if ((pc = conn_get(s, sl)) == NULL)
		return -1;
	pc->lsn = sl->final_lsn;
	if (!pc->cur) {		/* the transaction's first change */
		pc->cur = 1;
		if (pc->ntx > 0)
			pc->hold.on = 1;
		else if (!pc->in_txn && pgpipe_sql(pc, "BEGIN", NULL, "BEGIN") < 0)
			return -1;
		pc->in_txn = 1;
	}
	t = tab_get(pc, c->rel->relid);
	if ((t->gen != s->rel_gen || t->stale) && ((pc->hold.on && group_commit(s, sl, pc) < 0) ||
	    pgsql_flush(s->impl, pc) < 0 || pgddl_sync(s->impl, pc, t, c->rel, s->rel_gen) < 0))
		return -1;
	/* Snapshot rows go by COPY, which cannot be held: the group commits
	 * first, and the chunk's transaction is sent alone. */
	if (c->op == 'r' && pc->hold.on && group_commit(s, sl, pc) < 0)
		return -1;
	if (pgsql_apply(s->impl, pc, t, c) < 0)
		return -1;
	return pghold_full(pc) ? group_commit(s, sl, pc) : 0;
}

/* The source transaction joins the group; the group commits when full,
 * else at the next flush. */
static int
pg_commit(struct sink *s, struct sink_slot *sl)
{
	struct pg_conn *pc = conn_find(s->impl, sl->name);

	if (pc == NULL || !pc->cur)
		return 0;	/* nothing written: LMDB alone keeps the position */
	if (pc->broken)
		return -1;
	if (pgsql_flush(s->impl, pc) < 0 || (pc->hold.on && pghold_release(pc) < 0))
		return -1;
	pc->cur = 0;
	pc->group_lsn = sl->final_lsn;
	if (++pc->ntx >= PG_GROUP)
		return group_commit(s, sl, pc);
	return 0;
}

/* Only the current source transaction goes: held, it is dropped; sent, it
 * is alone in its target transaction (nothing complete joins one that is
 * being sent), which rolls back. */
static void
pg_rollback(struct sink *s, struct sink_slot *sl)
{
	struct pg_conn *pc = conn_find(s->impl, sl->name);

	if (pc == NULL || !pc->cur)
		return;
	pc->cur = 0;
	pgsql_forget(pc);
	if (pc->hold.on) {
		pghold_drop(pc);
		return;
	}
	pc->in_txn = 0;
	if (!pc->broken && pgpipe_sql(pc, "ROLLBACK", NULL, "ROLLBACK") < 0)
		pc->broken = 1;
	for (size_t i = 0; i < pc->captabs; i++)	/* DDL may be undone */
		if (pc->tabs[i] != NULL)
			pc->tabs[i]->stale = 1;
}

static int
pg_flush(struct sink *s, struct ckpt_batch *batch)
{
	struct pg_sink *p = s->impl;
	const char *v[1] = { s->conf->name };
	int unsynced = 0;
	PGresult *r;

	(void)batch;
	for (size_t i = 0; i < p->nconns; i++) {
		struct pg_conn *pc = p->conns[i];
		struct sink_slot *sl = sink_slot_find(s, pc->slot);

		if (pc->broken || (sl != NULL && group_commit(s, sl, pc) < 0) ||
		    (pc->npending > 0 && pgpipe_sync(pc) < 0))
			return -1;
	}
	for (size_t i = 0; i < p->nconns; i++) {
		if (pgpipe_wait(p->conns[i]) < 0)
			return -1;
		unsynced |= p->conns[i]->unsynced;
	}
	if (!unsynced)
		return 0;
	/* A synchronous commit after theirs flushes their WAL too. */
	r = PQexecParams(p->ctl, FLUSH_SQL, 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error("%s: making commits durable on the target: %s", __func__,
		    pgpipe_msg(p->ctl, r));
		PQclear(r);
		return -1;
	}
	PQclear(r);
	for (size_t i = 0; i < p->nconns; i++)
		p->conns[i]->unsynced = 0;
	return 0;
}

static void
conn_free(struct pg_conn *pc)
{
	for (size_t i = 0; i < pc->captabs; i++) {
		struct pg_tab *t = pc->tabs[i];

		if (t == NULL)
			continue;
		pgddl_tab_clear(pc, t, 0);
		free(t->schema);
		free(t->table);
		free(t->qname);
		free(t);
	}
	free(pc->tabs);
	free(pc->chunks);
	buf_free(&pc->batch.vals);
	free(pc->batch.offs);
	pghold_free(pc);
	PQfinish(pc->c);
	free(pc);
}

static void
pg_close(struct sink *s)
{
	struct pg_sink *p = s->impl;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nconns; i++)
		conn_free(p->conns[i]);
	free(p->conns);
	free(p->pos);
	PQfinish(p->ctl);
	buf_free(&p->sql);
	buf_free(&p->vals);
	free(p->offs);
	free(p->params);
	free(p->mask);
	free(p);
	s->impl = NULL;
}

/* After a failure: is the target down (or starting, or shutting down)? */
static int
pg_unavailable(struct sink *s, char *why, size_t len)
{
	const char *keys[] = { "dbname", "connect_timeout", NULL };
	const char *vals[] = { s->conf->conninfo, "5", NULL };
	char safe[1024];

	if (PQpingParams(keys, vals, 1) == PQPING_OK)
		return 0;
	log_redact(s->conf->conninfo, safe, sizeof(safe));
	snprintf(why, len, "the target (%s) does not accept connections; fix: start it, "
	    "the sink resumes once it does", safe);
	return 1;
}

const struct sink_ops sink_postgres_ops = {
	.type = "postgres",
	.open = pg_open,
	.change = pg_change,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.flush = pg_flush,
	.close = pg_close,
	.held = pg_held,
	.held_chunk = pg_held_chunk,
	.unavailable = pg_unavailable,
};
