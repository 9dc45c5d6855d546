/*
 * snaptab: a snapshot table's catalog facts and chunk SQL (see snaptab.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "worker/chunk.h"
#include "worker/snaptab.h"

PGresult *
snaptab_sql(PGconn *c, const char *sql, int n, const char *const *params,
    ExecStatusType expect)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) != expect) {
		log_error("snapshot: %s", strtok(PQerrorMessage(c), "\n"));
		PQclear(r);
		return NULL;
	}
	return r;
}

/* A key column position (1-based) from column `col` of r, 0 if none. */
static int
key_at(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : atoi(PQgetvalue(r, row, col));
}

/*
 * The chunking key: the primary key, else the replica identity index (both
 * unique and NOT NULL, so keyset chunks work), else, under REPLICA
 * IDENTITY FULL, ctid ranges with the whole row as the key (the stream's
 * old tuples carry it).  Sets keycols and the casts of the keyset query.
 */
static int
choose_key(PGconn *c, long chunk_rows, struct stable *t, PGresult *r, int ncols)
{
	struct buf keys = { 0 }, cast = { 0 }, hi = { 0 };
	int col = 0;

	for (int i = 0; i < ncols && col == 0; i++)
		if (key_at(r, i, 4) > 0)
			col = 4;		/* the primary key */
	for (int i = 0; i < ncols && col == 0; i++)
		if (key_at(r, i, 10) > 0)
			col = 10;		/* the replica identity index */
	if (col != 0)
		goto keyset;
	if (PQgetvalue(r, 0, 12)[0] == 'p') {
		log_error("partitioned table %s has no primary key: published via its root, its "
		    "snapshot needs one; fix: add a primary key, or set "
		    "publish_via_partition_root = false for this slot (partitions are then "
		    "snapshotted one by one)", t->name);
		return -1;
	}
	if (PQgetvalue(r, 0, 6)[0] != 'f') {
		log_error("table %s has no primary key and no replica identity index: its "
		    "snapshot cannot tell rows apart; fix: ALTER TABLE %s REPLICA IDENTITY FULL "
		    "(or add a primary key), or set snapshot mode \"never\" for this slot",
		    t->name, t->qname);
		return -1;
	}
	t->by_ctid = 1;
	t->nkeys = ncols;
	for (int i = 0; i < ncols; i++)
		t->keypos[i] = i;
	t->keycols = strdup("ctid");
	t->keycast = strdup("$1::tid");
	t->keycast_hi = strdup("$2::tid");
	{
		long long pages = atoll(PQgetvalue(r, 0, 11));
		double tuples = atof(PQgetvalue(r, 0, 9));

		t->blocks = pages > 0 && tuples > 0 ?
		    (long long)((double)chunk_rows * (double)pages / tuples) : 1;
		t->blocks = t->blocks < 1 ? 1 : t->blocks;
	}
	log_debug("snapshot of %s: no primary key, chunked by ctid ranges", t->name);
	return 0;
keyset:
	for (int i = 0; i < ncols; i++) {
		int kp = key_at(r, i, col);

		if (kp > 0 && kp <= ncols) {
			t->keypos[kp - 1] = i;
			t->nkeys = kp > t->nkeys ? kp : t->nkeys;
		}
	}
	for (int k = 0; k < t->nkeys; k++) {
		int i = t->keypos[k];
		char *q = PQescapeIdentifier(c, PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)));

		buf_printf(&keys, "%s%s", k ? ", " : "", q);
		buf_printf(&cast, "%s$%d::%s", k ? ", " : "", k + 1, PQgetvalue(r, i, 3));
		buf_printf(&hi, "%s$%d::%s", k ? ", " : "", t->nkeys + k + 1, PQgetvalue(r, i, 3));
		PQfreemem(q);
	}
	buf_putc(&keys, '\0'); buf_putc(&cast, '\0'); buf_putc(&hi, '\0');
	t->keycols = (char *)keys.data;
	t->keycast = (char *)cast.data;
	t->keycast_hi = (char *)hi.data;
	return 0;
}

/* Is column `row` part of the replica identity pgoutput announces? */
static int
identity_col(PGresult *r, int row)
{
	switch (PQgetvalue(r, 0, 6)[0]) {
	case 'f': return 1;
	case 'i': return key_at(r, row, 10) > 0;
	case 'd': return key_at(r, row, 4) > 0;
	default:  return 0;
	}
}

/* The Type messages pgoutput sends before a Relation: one per column type
 * with oid >= 10000, named by its base type (domains resolved). */
static int
describe_types(PGconn *c, struct stable *t)
{
	char relid[16];
	const char *p[1] = { relid };
	PGresult *r;

	snprintf(relid, sizeof(relid), "%u", t->relid);
	r = snaptab_sql(c, "WITH RECURSIVE b(oid, base) AS ("
	    " SELECT DISTINCT a.atttypid, a.atttypid FROM pg_attribute a WHERE a.attrelid = $1::oid"
	    " AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid >= 10000"
	    " UNION ALL SELECT b.oid, t.typbasetype FROM b JOIN pg_type t ON t.oid = b.base"
	    " WHERE t.typtype = 'd') "
	    "SELECT b.oid, CASE WHEN n.nspname = 'pg_catalog' THEN '' ELSE n.nspname END, t.typname "
	    "FROM b JOIN pg_type t ON t.oid = b.base JOIN pg_namespace n ON n.oid = t.typnamespace "
	    "WHERE t.typtype <> 'd'", 1, p, PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	buf_reset(&t->typmsgs);
	for (int i = 0; i < PQntuples(r); i++) {
		size_t at = t->typmsgs.len;

		buf_put_u32(&t->typmsgs, 0);
		buf_put_u8(&t->typmsgs, 'Y');
		buf_put_u32(&t->typmsgs, (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10));
		buf_append(&t->typmsgs, PQgetvalue(r, i, 1), strlen(PQgetvalue(r, i, 1)) + 1);
		buf_append(&t->typmsgs, PQgetvalue(r, i, 2), strlen(PQgetvalue(r, i, 2)) + 1);
		buf_set_u32(&t->typmsgs, at, (uint32_t)(t->typmsgs.len - at - 4));
	}
	PQclear(r);
	return 0;
}

int
snaptab_describe(PGconn *c, long chunk_rows, struct stable *t)
{
	const char *p[1] = { t->qname };
	struct buf sel = { 0 };
	PGresult *r = snaptab_sql(c, "SELECT a.attname, a.atttypid, a.atttypmod, "
	    "format_type(a.atttypid, a.atttypmod), "
	    "(SELECT k.n FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(a, n) "
	    " WHERE i.indrelid = c.oid AND i.indisprimary AND k.a = a.attnum), "
	    "c.oid, c.relreplident, n.nspname, c.relname, c.reltuples::bigint, "
	    "(SELECT k.n FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(a, n) "
	    " WHERE i.indrelid = c.oid AND i.indisreplident AND k.a = a.attnum), "
	    "c.relpages, c.relkind "
	    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	    "JOIN pg_attribute a ON a.attrelid = c.oid "
	    "WHERE c.oid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
	    "AND a.attgenerated = '' ORDER BY a.attnum", 1, p, PGRES_TUPLES_OK);
	int ncols, rc;

	if (r == NULL)
		return -1;
	ncols = PQntuples(r);
	t->keypos = calloc((size_t)ncols + 1, sizeof(int));
	t->relid = (uint32_t)strtoul(PQgetvalue(r, 0, 5), NULL, 10);
	t->est_rows = atoll(PQgetvalue(r, 0, 9));
	buf_put_u8(&t->relmsg, 'R');
	buf_put_u32(&t->relmsg, t->relid);
	buf_append(&t->relmsg, PQgetvalue(r, 0, 7), strlen(PQgetvalue(r, 0, 7)) + 1);
	buf_append(&t->relmsg, PQgetvalue(r, 0, 8), strlen(PQgetvalue(r, 0, 8)) + 1);
	buf_put_u8(&t->relmsg, (uint8_t)PQgetvalue(r, 0, 6)[0]);
	buf_put_u16(&t->relmsg, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		char *q = PQescapeIdentifier(c, PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)));

		buf_put_u8(&t->relmsg, identity_col(r, i) ? 1 : 0);
		buf_append(&t->relmsg, PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)) + 1);
		buf_put_u32(&t->relmsg, (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10));
		buf_put_u32(&t->relmsg, (uint32_t)atoi(PQgetvalue(r, i, 2)));
		buf_printf(&sel, "%s%s", i ? ", " : "", q);
		PQfreemem(q);
	}
	buf_putc(&sel, '\0');
	t->select = (char *)sel.data;
	rc = choose_key(c, chunk_rows, t, r, ncols);
	PQclear(r);
	return rc < 0 ? rc : describe_types(c, t);
}

/* Split an encoded key into NUL-terminated strings in scratch. */
static int
key_params(struct buf *scratch, const struct buf *k, int nkeys, const char **out, int at)
{
	struct rd r;
	size_t offs[64];

	if (nkeys > 32)
		return -1;
	rd_init(&r, k->data, k->len);
	for (int i = 0; i < nkeys; i++) {
		uint32_t n;
		const uint8_t *p;

		if (rd_u32(&r, &n) < 0 || rd_bytes(&r, n, &p) < 0)
			return -1;
		offs[i] = scratch->len;
		buf_append(scratch, p, n);
		buf_putc(scratch, '\0');
	}
	for (int i = 0; i < nkeys; i++)
		out[at + i] = (const char *)scratch->data + offs[i];
	return 0;
}

int
snaptab_send_query(PGconn *c, const struct stable *t, const struct buf *lower,
    const struct buf *hi, long chunk_rows, struct buf *scratch)
{
	const char *params[64];
	struct buf sql = { 0 };
	int np = 0, nk = t->by_ctid ? 1 : t->nkeys;
	int rc = 0;

	buf_reset(scratch);
	buf_printf(&sql, "SELECT %s FROM %s", t->select, t->qname);
	if (lower->len > 0) {
		if (key_params(scratch, lower, nk, params, np) < 0)
			goto bad;
		np += nk;
		buf_printf(&sql, " WHERE (%s) %s (%s)", t->keycols, t->by_ctid ? ">=" : ">",
		    t->keycast);
	}
	if (hi != NULL && hi->len > 0) {
		if (key_params(scratch, hi, nk, params, np) < 0)
			goto bad;
		buf_printf(&sql, " %s (%s) %s (%s)", np ? "AND" : "WHERE", t->keycols,
		    t->by_ctid ? "<" : "<=", np ? t->keycast_hi : t->keycast);
		np += nk;
	}
	if (!t->by_ctid)
		buf_printf(&sql, " ORDER BY %s", t->keycols);
	if (hi == NULL)
		buf_printf(&sql, " LIMIT %ld", chunk_rows);
	buf_putc(&sql, '\0');
	if (!PQsendQueryParams(c, (char *)sql.data, np, NULL, params, NULL, NULL, 0)) {
		log_error("snapshot of %s: %s", t->name, strtok(PQerrorMessage(c), "\n"));
		rc = -1;
	}
	buf_free(&sql);
	return rc;
bad:
	log_error("snapshot of %s: stored chunk bound is malformed", t->name);
	buf_free(&sql);
	return -1;
}

/* Block number of an encoded "(block,offset)" bound; 0 for none. */
static long long
ctid_block(const struct buf *k)
{
	char txt[64];
	long long b = 0;

	if (k->len <= 4 || k->len - 4 >= sizeof(txt))
		return 0;
	memcpy(txt, k->data + 4, k->len - 4);
	txt[k->len - 4] = '\0';
	return sscanf(txt, "(%lld,", &b) == 1 ? b : 0;
}

int
snaptab_plan_ctid(PGconn *c, const struct stable *t, const struct buf *lower, struct buf *hi,
    int *last)
{
	const char *p[1] = { t->qname };
	PGresult *r = snaptab_sql(c, "SELECT pg_relation_size($1::regclass) / "
	    "current_setting('block_size')::bigint", 1, p, PGRES_TUPLES_OK);
	long long from = ctid_block(lower), nblocks;
	char bound[64];

	if (r == NULL)
		return -1;
	nblocks = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	buf_reset(hi);
	*last = from + t->blocks >= nblocks;
	if (!*last) {
		snprintf(bound, sizeof(bound), "(%lld,0)", from + t->blocks);
		chunk_key_put(hi, bound, (uint32_t)strlen(bound));
	}
	return 0;
}

void
snaptab_adapt(struct stable *t, long chunk_rows, size_t rows)
{
	long long b = rows > 0 ? t->blocks * chunk_rows / (long long)rows :
	    4 * t->blocks;

	t->blocks = b < 1 ? 1 : b > 4 * t->blocks ? 4 * t->blocks : b;
}

int
snaptab_expand(PGconn *c, const char *name, int via_root, struct stable **ts, size_t *n)
{
	char q[300];
	const char *p[1] = { q };
	PGresult *r;
	int rows, leaves;

	if (pgconn_quote_qualified(c, name, q, sizeof(q)) < 0)
		return -1;
	/* Partitioned and published per partition: its leaves (only then is the
	 * tree asked for: pg_partition_tree locks the table). */
	if ((r = snaptab_sql(c, "SELECT relkind FROM pg_class WHERE oid = $1::regclass", 1, p,
	    PGRES_TUPLES_OK)) == NULL)
		return -1;
	leaves = !via_root && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 'p';
	PQclear(r);
	r = NULL;
	if (leaves && (r = snaptab_sql(c, "SELECT n.nspname || '.' || c.relname, "
	    "format('%I.%I', n.nspname, c.relname) FROM pg_partition_tree($1::regclass) p "
	    "JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace "
	    "WHERE p.isleaf AND p.level > 0 ORDER BY 1", 1, p, PGRES_TUPLES_OK)) == NULL)
		return -1;
	rows = r != NULL ? PQntuples(r) : 0;
	*ts = realloc(*ts, (*n + (size_t)rows + 1) * sizeof(**ts));
	if (*ts == NULL)
		fatal(1, "%s: out of memory", __func__);
	for (int i = 0; i < (rows ? rows : 1); i++) {
		struct stable *t = &(*ts)[(*n)++];

		memset(t, 0, sizeof(*t));
		/* The table itself keeps its config name (LMDB keys use it). */
		snprintf(t->name, sizeof(t->name), "%s", rows ? PQgetvalue(r, i, 0) : name);
		snprintf(t->qname, sizeof(t->qname), "%s", rows ? PQgetvalue(r, i, 1) : q);
	}
	PQclear(r);
	return 0;
}

/* What describe builds. */
static void
forget_shape(struct stable *t)
{
	buf_free(&t->relmsg);
	buf_free(&t->typmsgs);
	free(t->select);
	free(t->keycols);
	free(t->keycast);
	free(t->keycast_hi);
	free(t->keypos);
	t->select = t->keycols = t->keycast = t->keycast_hi = NULL;
	t->keypos = NULL;
	t->nkeys = 0;
}

int
snaptab_refresh(PGconn *c, long chunk_rows, struct stable *t)
{
	long long blocks = t->blocks;
	int by_ctid = t->by_ctid, rc;

	forget_shape(t);
	t->by_ctid = 0;
	rc = snaptab_describe(c, chunk_rows, t);
	if (rc == 0 && t->by_ctid != by_ctid) {
		log_error("snapshot of %s: its key changed during the snapshot; fix: "
		    "let the snapshot finish before changing keys, or restart it", t->name);
		return -1;
	}
	if (by_ctid)
		t->blocks = blocks;
	return rc;
}

void
snaptab_free(struct stable *t)
{
	forget_shape(t);
	buf_free(&t->lower);
}
