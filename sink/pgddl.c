/*
 * pgddl: target tables follow the source relations.  When a relation is
 * first used, or its Relation message changed, the table is compared with
 * the target's catalog (not with memory: after a crash the catalog is what
 * counts) and brought in line inside the slot's open target transaction, so
 * a schema change commits atomically with the changes after it.  Column
 * types are the target's format_type() of the source type (built-in oids
 * are the same in every cluster); a user type by its name from the Type
 * message if the target has it, else text (text[] for arrays).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/types.h"
#include "sink/pg.h"

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		fatal(1, "%s: out of memory", __func__);
	return d;
}

static ssize_t
find(const struct pgddl_col *cols, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(cols[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static void
stmt_start(struct buf *b, const char *qname)
{
	buf_printf(b, "ALTER TABLE %s ", qname);
}

static void
pk_list(struct buf *b, const struct pgddl_col *want, size_t nwant)
{
	buf_puts(b, "PRIMARY KEY (");
	for (size_t i = 0, k = 0; i < nwant; i++) {
		if (!want[i].key)
			continue;
		buf_puts(b, k++ ? ", " : "");
		pgpipe_ident(b, want[i].name);
	}
	buf_puts(b, ")");
}

int
pgddl_match_col(const struct pgddl_col *want, size_t nwant)
{
	for (size_t i = 0; i < nwant; i++)
		if (want[i].indexed)
			return (int)i;
	return -1;
}

static int
plan_create(const char *qname, const struct pgddl_col *want, size_t nwant, int keyed,
    struct buf *out)
{
	int ix = keyed ? -1 : pgddl_match_col(want, nwant);

	buf_printf(out, "CREATE TABLE %s (", qname);
	for (size_t i = 0; i < nwant; i++) {
		buf_puts(out, i ? ", " : "");
		pgpipe_ident(out, want[i].name);
		buf_printf(out, " %s", want[i].type);
	}
	if (keyed) {
		buf_puts(out, nwant ? ", " : "");
		pk_list(out, want, nwant);
	}
	buf_puts(out, "); ");
	if (ix < 0)
		return 1;
	/* Rows of a keyless table are found by the whole row: an index on one
	 * column spares a scan per change. */
	buf_printf(out, "CREATE INDEX ON %s (", qname);
	pgpipe_ident(out, want[ix].name);
	buf_puts(out, "); ");
	return 2;
}

/* Is the key of want (by name) the primary key of have after renames? */
static int
same_key(const struct pgddl_col *have, size_t nhave, const char *const *hname,
    const struct pgddl_col *want, size_t nwant)
{
	size_t nh = 0, nw = 0;

	for (size_t i = 0; i < nhave; i++)
		if (have[i].key) {
			nh++;
			for (size_t j = 0; j < nwant; j++)
				if (strcmp(hname[i], want[j].name) == 0 && !want[j].key)
					return 0;
			if (find(want, nwant, hname[i]) < 0)
				return 0;
		}
	for (size_t j = 0; j < nwant; j++)
		nw += want[j].key != 0;
	return nh == nw;
}

int
pgddl_plan(const char *qname, int exists, const char *pkname,
    const struct pgddl_col *have, size_t nhave, const struct pgddl_col *want,
    size_t nwant, int keyed, struct buf *out)
{
	const char *hname[1600];	/* have's names after renames */
	int n = 0;

	if (!exists)
		return plan_create(qname, want, nwant, keyed, out);
	if (nhave > 1600)
		return -1;
	/* A rename: a column gone and one new at the same place, same type. */
	for (size_t i = 0; i < nhave; i++) {
		hname[i] = have[i].name;
		if (i < nwant && find(want, nwant, have[i].name) < 0 &&
		    find(have, nhave, want[i].name) < 0 && strcmp(have[i].type, want[i].type) == 0) {
			stmt_start(out, qname);
			buf_puts(out, "RENAME COLUMN ");
			pgpipe_ident(out, have[i].name);
			buf_puts(out, " TO ");
			pgpipe_ident(out, want[i].name);
			buf_puts(out, "; ");
			hname[i] = want[i].name;
			n++;
		}
	}
	for (size_t i = 0; i < nhave; i++) {
		ssize_t j = find(want, nwant, hname[i]);

		if (j < 0) {
			stmt_start(out, qname);
			buf_puts(out, "DROP COLUMN ");
			pgpipe_ident(out, hname[i]);
			buf_puts(out, "; ");
			n++;
		} else if (strcmp(have[i].type, want[j].type) != 0) {
			stmt_start(out, qname);
			buf_puts(out, "ALTER COLUMN ");
			pgpipe_ident(out, hname[i]);
			buf_printf(out, " TYPE %s USING CAST(CAST(", want[j].type);
			pgpipe_ident(out, hname[i]);
			buf_printf(out, " AS text) AS %s); ", want[j].type);
			n++;
		}
	}
	for (size_t j = 0; j < nwant; j++) {
		int known = 0;

		for (size_t i = 0; i < nhave && !known; i++)
			known = strcmp(hname[i], want[j].name) == 0;
		if (known)
			continue;
		stmt_start(out, qname);
		buf_puts(out, "ADD COLUMN ");
		pgpipe_ident(out, want[j].name);
		buf_printf(out, " %s; ", want[j].type);
		n++;
	}
	if (keyed && !same_key(have, nhave, hname, want, nwant)) {
		if (pkname != NULL) {
			stmt_start(out, qname);
			buf_puts(out, "DROP CONSTRAINT IF EXISTS ");
			pgpipe_ident(out, pkname);
			buf_puts(out, "; ");
			n++;
		}
		stmt_start(out, qname);
		buf_puts(out, "ADD ");
		pk_list(out, want, nwant);
		buf_puts(out, "; ");
		n++;
	}
	return n;
}

/* ---- talking to the target (pipeline paused) ---- */

static PGresult *
query(struct pg_conn *pc, const char *sql, int n, const char *const *vals, const char *what)
{
	PGresult *r = PQexecParams(pc->c, sql, n, NULL, vals, NULL, NULL, 0);

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	log_error("slot %s: %s on the target failed: %s", pc->slot, what,
	    pgpipe_msg(pc->c, r));
	PQclear(r);
	return NULL;
}

static void
literal(PGconn *c, struct buf *b, const char *s)
{
	char *q = PQescapeLiteral(c, s, strlen(s));

	if (q == NULL)
		fatal(1, "%s: out of memory", __func__);
	buf_puts(b, q);
	PQfreemem(q);
}

/* Built-in types a btree indexes with the = that a whole-row match uses. */
static int
indexable(uint32_t oid)
{
	static const uint32_t oids[] = {
		16, 17, 18, 19, 20, 21, 23, 25, 26, 650, 700, 701, 774, 790, 829, 869,
		1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2950,
		3220, 3802,
	};

	for (size_t i = 0; i < sizeof(oids) / sizeof(oids[0]); i++)
		if (oids[i] == oid)
			return 1;
	return 0;
}

/* One row: the target type of each column of rel. */
static PGresult *
target_types(struct pg_sink *p, struct pg_conn *pc, const struct rel *rel)
{
	struct buf *b = &p->sql, name = { 0 };
	const char *nsp, *typ;

	buf_reset(b);
	buf_puts(b, "SELECT ");
	for (size_t i = 0; i < rel->ncols; i++) {
		const struct rel_col *c = &rel->cols[i];

		buf_puts(b, i ? ", " : "");
		if (c->typoid < TYPES_FIRST_DESCRIBED) {
			buf_printf(b, "format_type(%u, %d)", c->typoid, c->typmod);
		} else if (types_name(c->typoid, &nsp, &typ)) {
			buf_reset(&name);
			pgpipe_ident(&name, nsp);
			buf_putc(&name, '.');
			pgpipe_ident(&name, typ);
			buf_putc(&name, '\0');
			buf_puts(b, "coalesce(format_type(to_regtype(");
			literal(pc->c, b, (const char *)name.data);
			buf_printf(b, "), %d), '%s')", c->typmod, typ[0] == '_' ? "text[]" : "text");
		} else {
			buf_puts(b, "'text'");
		}
	}
	buf_putc(b, '\0');
	buf_free(&name);
	return query(pc, (const char *)b->data, 0, NULL, "naming column types");
}

#define CATALOG_SQL \
	"SELECT a.attname, format_type(a.atttypid, a.atttypmod), " \
	"  coalesce(a.attnum = ANY (i.indkey), false), " \
	"  (SELECT conname FROM pg_constraint WHERE conrelid = c.oid AND contype = 'p'), " \
	"  EXISTS (SELECT 1 FROM pg_index x JOIN pg_class xc ON xc.oid = x.indexrelid " \
	"    JOIN pg_am am ON am.oid = xc.relam WHERE x.indrelid = c.oid AND " \
	"    x.indkey[0] = a.attnum AND am.amname = 'btree' AND x.indpred IS NULL) " \
	"FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid " \
	"LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary " \
	"WHERE c.oid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"

/* The table's columns on the target; *exists 0 if there is no such table. */
static PGresult *
catalog(struct pg_conn *pc, const char *qname, int *exists)
{
	const char *v[1] = { qname };
	PGresult *r = query(pc, "SELECT to_regclass($1) IS NOT NULL", 1, v, "looking up a table");

	if (r == NULL)
		return NULL;
	*exists = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return query(pc, *exists ? CATALOG_SQL : "SELECT 1 WHERE false", *exists, v,
	    "reading a table's columns");
}

static void
set_qname(struct buf *b, const char *schema, const char *table)
{
	buf_reset(b);
	pgpipe_ident(b, schema);
	buf_putc(b, '.');
	pgpipe_ident(b, table);
	buf_putc(b, '\0');
}

/* The source renamed the table (same relid): rename the target's too,
 * unless the new name is taken. */
static int
rename_table(struct pg_sink *p, struct pg_conn *pc, const struct pg_tab *t,
    const struct rel *rel)
{
	struct buf *b = &p->sql;
	char *newq;
	int exists = 0, rc = 0;
	PGresult *r;

	set_qname(b, rel->schema, rel->table);
	newq = xstrdup((const char *)b->data);
	if ((r = catalog(pc, newq, &exists)) == NULL)
		rc = -1;
	PQclear(r);
	buf_reset(b);
	if (rc == 0 && !exists && strcmp(t->schema, rel->schema) != 0) {
		buf_puts(b, "CREATE SCHEMA IF NOT EXISTS ");
		pgpipe_ident(b, rel->schema);
		buf_printf(b, "; ALTER TABLE IF EXISTS %s SET SCHEMA ", t->qname);
		pgpipe_ident(b, rel->schema);
		buf_puts(b, ";");
	}
	if (rc == 0 && !exists && strcmp(t->table, rel->table) != 0) {
		buf_puts(b, "ALTER TABLE IF EXISTS ");
		pgpipe_ident(b, rel->schema);
		buf_putc(b, '.');
		pgpipe_ident(b, t->table);
		buf_puts(b, " RENAME TO ");
		pgpipe_ident(b, rel->table);
	}
	buf_putc(b, '\0');
	if (rc == 0 && b->len > 1)
		rc = pgpipe_exec(pc->c, (const char *)b->data, PGRES_COMMAND_OK, "renaming a table");
	free(newq);
	return rc;
}

void
pgddl_tab_clear(struct pg_conn *pc, struct pg_tab *t, int dealloc)
{
	char sql[64];

	for (size_t i = 0; i < t->nvars; i++) {
		if (dealloc) {
			snprintf(sql, sizeof(sql), "DEALLOCATE %s", t->vars[i].name);
			PQclear(PQexec(pc->c, sql));
		}
		free(t->vars[i].mask);
	}
	free(t->vars);
	t->vars = NULL;
	t->nvars = 0;
	t->stage[0] = '\0';	/* a new shape, or rolled back: made again */
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].type);
	}
	free(t->cols);
	t->cols = NULL;
	t->ncols = 0;
}

/* Remember rel as t's shape with the target types of row 0 of types. */
static void
remember(struct pg_conn *pc, struct pg_tab *t, const struct rel *rel, const PGresult *types,
    const char *qname)
{
	pgddl_tab_clear(pc, t, 1);
	free(t->schema);
	free(t->table);
	free(t->qname);
	t->schema = xstrdup(rel->schema);
	t->table = xstrdup(rel->table);
	t->qname = xstrdup(qname);
	t->replident = rel->replident;
	t->ncols = rel->ncols;
	if ((t->cols = calloc(rel->ncols ? rel->ncols : 1, sizeof(*t->cols))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	t->keyed = 0;
	t->match_col = -1;
	for (size_t i = 0; i < rel->ncols; i++) {
		t->cols[i].name = xstrdup(rel->cols[i].name);
		t->cols[i].type = xstrdup(PQgetvalue(types, 0, (int)i));
		t->cols[i].typoid = rel->cols[i].typoid;
		t->cols[i].typmod = rel->cols[i].typmod;
		t->cols[i].flags = rel->cols[i].flags;
		if (rel->replident != 'f' && rel->replident != 'n' &&
		    (rel->cols[i].flags & REL_COL_KEY))
			t->keyed = 1;
	}
	if (!t->keyed)	/* FULL flags every column: not a key */
		for (size_t i = 0; i < rel->ncols; i++)
			t->cols[i].flags &= (uint8_t)~REL_COL_KEY;
}

static int
same_shape(const struct pg_tab *t, const struct rel *rel)
{
	if (t->cols == NULL || t->ncols != rel->ncols || t->replident != rel->replident ||
	    strcmp(t->schema, rel->schema) != 0 || strcmp(t->table, rel->table) != 0)
		return 0;
	for (size_t i = 0; i < rel->ncols; i++) {
		const struct rel_col *c = &rel->cols[i];
		uint8_t key = t->keyed ? c->flags : (uint8_t)(c->flags & ~REL_COL_KEY);

		if (strcmp(t->cols[i].name, c->name) != 0 || t->cols[i].typoid != c->typoid ||
		    t->cols[i].typmod != c->typmod || t->cols[i].flags != key)
			return 0;
	}
	return 1;
}

/* Plan and run the DDL for t (already remembered as rel) against the
 * catalog rows in cat. */
static int
apply_plan(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, PGresult *cat,
    int exists)
{
	int nhave = PQntuples(cat), n;
	struct pgddl_col *have = calloc((size_t)nhave + 1, sizeof(*have));
	struct pgddl_col *want = calloc((size_t)t->ncols + 1, sizeof(*want));
	const char *pkname = NULL;

	if (have == NULL || want == NULL)
		fatal(1, "%s: out of memory", __func__);
	for (int i = 0; i < nhave; i++) {
		have[i].name = PQgetvalue(cat, i, 0);
		have[i].type = PQgetvalue(cat, i, 1);
		have[i].key = PQgetvalue(cat, i, 2)[0] == 't';
		if (!PQgetisnull(cat, i, 3))
			pkname = PQgetvalue(cat, i, 3);
		have[i].indexed = PQgetvalue(cat, i, 4)[0] == 't';
	}
	for (size_t i = 0; i < t->ncols; i++) {
		want[i].name = t->cols[i].name;
		want[i].type = t->cols[i].type;
		want[i].key = (t->cols[i].flags & REL_COL_KEY) != 0;
		want[i].indexed = t->cols[i].typoid < TYPES_FIRST_DESCRIBED &&
		    indexable(t->cols[i].typoid);
	}
	buf_reset(&p->sql);
	n = pgddl_plan(t->qname, exists, pkname, have, (size_t)nhave, want, t->ncols,
	    t->keyed, &p->sql);
	buf_putc(&p->sql, '\0');
	t->match_col = t->keyed ? -1 : exists ? -2 : pgddl_match_col(want, t->ncols);
	for (size_t j = 0; t->match_col == -2 && j < t->ncols; j++)	/* an index there */
		for (int i = 0; i < nhave && t->match_col == -2; i++)
			if (have[i].indexed && strcmp(have[i].name, want[j].name) == 0 &&
			    strcmp(have[i].type, want[j].type) == 0)
				t->match_col = (int)j;
	if (t->match_col == -2)
		t->match_col = -1;
	free(have);
	free(want);
	if (n > 0)
		log_info("slot %s: table %s: %s", pc->slot, t->qname, (const char *)p->sql.data);
	if (n < 0)
		return -1;
	return n == 0 ? 0 : pgpipe_exec(pc->c, (const char *)p->sql.data, PGRES_COMMAND_OK,
	    "changing a table to follow its source");
}

static int
ensure_schema(struct pg_sink *p, const char *schema)
{
	buf_reset(&p->sql);
	buf_puts(&p->sql, "CREATE SCHEMA IF NOT EXISTS ");
	pgpipe_ident(&p->sql, schema);
	buf_putc(&p->sql, '\0');
	return pgpipe_exec(p->ctl, (const char *)p->sql.data, PGRES_COMMAND_OK,
	    "creating a schema");
}

int
pgddl_sync(struct pg_sink *p, struct pg_conn *pc, struct pg_tab *t, const struct rel *rel,
    uint64_t gen)
{
	PGresult *types = NULL, *cat = NULL;
	char *qname = NULL;
	int exists = 0, rc = -1;

	if (!t->stale && same_shape(t, rel)) {
		t->gen = gen;
		return 0;
	}
	if (pgpipe_pause(pc) < 0)
		return -1;
	if (t->schema != NULL && (strcmp(t->schema, rel->schema) != 0 ||
	    strcmp(t->table, rel->table) != 0) && rename_table(p, pc, t, rel) < 0)
		goto out;
	if ((types = target_types(p, pc, rel)) == NULL)
		goto out;
	set_qname(&p->sql, rel->schema, rel->table);
	qname = xstrdup((const char *)p->sql.data);
	if ((cat = catalog(pc, qname, &exists)) == NULL)
		goto out;
	if (!exists && ensure_schema(p, rel->schema) < 0)
		goto out;
	remember(pc, t, rel, types, qname);
	if (apply_plan(p, pc, t, cat, exists) < 0)
		goto out;
	t->gen = gen;
	t->stale = 0;
	rc = 0;
out:
	PQclear(types);
	PQclear(cat);
	free(qname);
	if (rc < 0)
		t->stale = 1;
	return pgpipe_resume(pc) < 0 ? -1 : rc;
}
