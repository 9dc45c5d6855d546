/*
 * pghold: the statements of a source transaction that began while complete
 * ones wait in the open target transaction (a group, pg.c).  They are kept
 * here, parameters copied, until its COMMIT sends them into the group, so a
 * rollback of it drops them without undoing the group, and a flush commits
 * the group without it.  Buffers are reused: no allocation once warm.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sink/pg.h"

static void
grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	if ((*v = realloc(*v, n * size)) == NULL)
		fatal(1, "%s: out of memory", __func__);
	*cap = n;
}

/* Append a statement: a prepared one (name) with n values, or sql. */
static struct pg_held *
hold(struct pg_conn *pc, const struct pg_tab *t, const char *what)
{
	struct pg_hold *h = &pc->hold;
	struct pg_held *e;

	grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v));
	e = &h->v[h->n++];
	e->tab = t;
	e->what = what;
	e->lsn = pc->lsn;
	e->name[0] = '\0';
	e->n = 0;
	e->off = h->noffs;
	return e;
}

static void
hold_value(struct pg_hold *h, const char *v, size_t len)
{
	grow((void **)&h->offs, &h->capoffs, h->noffs + 1, sizeof(*h->offs));
	h->offs[h->noffs++] = v == NULL ? SIZE_MAX : h->vals.len;
	if (v != NULL) {
		buf_append(&h->vals, v, len);
		buf_putc(&h->vals, '\0');
	}
}

int
pghold_prepared(struct pg_conn *pc, const char *name, int n, const char *const *vals,
    const struct pg_tab *t, const char *what)
{
	struct pg_held *e;

	if (!pc->hold.on)
		return pgpipe_prepared(pc, name, n, vals, t, what);
	e = hold(pc, t, what);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->n = n;
	for (int i = 0; i < n; i++)
		hold_value(&pc->hold, vals[i], vals[i] ? strlen(vals[i]) : 0);
	return 0;
}

int
pghold_sql(struct pg_conn *pc, const char *sql, const struct pg_tab *t, const char *what)
{
	if (!pc->hold.on)
		return pgpipe_sql(pc, sql, t, what);
	hold(pc, t, what);
	hold_value(&pc->hold, sql, strlen(sql));
	return 0;
}

int
pghold_full(const struct pg_conn *pc)
{
	const struct pg_hold *h = &pc->hold;

	return h->on && (h->n >= PG_HOLD || h->vals.len >= PG_HOLD_BYTES ||
	    h->noffs * sizeof(*h->offs) >= PG_HOLD_BYTES);	/* NULLs take no vals */
}

/* Send one held statement (its values point into h->vals). */
static int
send_held(struct pg_conn *pc, const struct pg_held *e)
{
	struct pg_hold *h = &pc->hold;
	const char *base = (const char *)h->vals.data;

	if (e->name[0] == '\0')
		return pgpipe_sql(pc, base + h->offs[e->off], e->tab, e->what);
	grow((void **)&h->params, &h->capparams, (size_t)e->n + 1, sizeof(*h->params));
	for (int i = 0; i < e->n; i++)
		h->params[i] = h->offs[e->off + i] == SIZE_MAX ? NULL : base + h->offs[e->off + i];
	return pgpipe_prepared(pc, e->name, e->n, h->params, e->tab, e->what);
}

int
pghold_release(struct pg_conn *pc)
{
	struct pg_hold *h = &pc->hold;
	lsn_t lsn = pc->lsn;
	int rc = 0;

	h->on = 0;
	for (size_t i = 0; i < h->n && rc == 0; i++) {
		pc->lsn = h->v[i].lsn;	/* names its transaction on error */
		rc = send_held(pc, &h->v[i]);
	}
	pc->lsn = lsn;
	pghold_drop(pc);
	return rc;
}

void
pghold_drop(struct pg_conn *pc)
{
	struct pg_hold *h = &pc->hold;

	h->on = 0;
	h->n = h->noffs = 0;
	buf_reset(&h->vals);
}

void
pghold_free(struct pg_conn *pc)
{
	struct pg_hold *h = &pc->hold;

	free(h->v);
	free(h->offs);
	free(h->params);
	buf_free(&h->vals);
	memset(h, 0, sizeof(*h));
}
