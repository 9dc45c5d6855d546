/*
 * test_pgo_identity: the four replica identities (DEFAULT, FULL, USING
 * INDEX, NOTHING) decoded from the bytes PostgreSQL 15 sent
 * (tests/fixtures/pgoutput/kinds.hex): which old tuple an UPDATE and a
 * DELETE carry, and the key flags of the Relation.  The walk:
 * pgo_kinds_check.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/pgo_kinds_check.h"

/* --- replica identities --- */

static void
test_identity_default(void **state)
{
	struct walk *w = *state;
	const struct tuple *o = &w->dec.oldt, *n = &w->dec.newt;
	const struct rel *rel;

	seek(w, "ident_default");
	begin(w);
	rel = relation(w, "ident_default", 'd', 4);
	col(rel, 0, "note", 25, 0);
	col(rel, 1, "id", 23, REL_COL_KEY);	/* the key need not come first */
	col(rel, 2, "big", 25, 0);
	col(rel, 3, "n", 23, 0);
	change(w, PGO_INSERT, rel, 0);
	row(n, "first", "1", BIG, "10", NULL);
	change(w, PGO_INSERT, rel, 0);
	row(n, NUL, "2", NUL, NUL, NULL);
	commit(w);

	/* Key unchanged: no old tuple; the TOASTed value did not change: 'u'. */
	begin(w);
	change(w, PGO_UPDATE, rel, 0);
	row(n, "first", "1", UNCH, "11", NULL);
	commit(w);

	/* Key changed: the old key as 'K', every other column null; the new
	 * row still leaves the TOASTed value out. */
	begin(w);
	change(w, PGO_UPDATE, rel, 'K');
	row(o, NUL, "1", NUL, NUL, NULL);
	row(n, "first", "3", UNCH, "11", NULL);
	commit(w);

	/* NULLs set by an update are 'n', never 'u'. */
	begin(w);
	change(w, PGO_UPDATE, rel, 0);
	row(n, NUL, "2", NUL, NUL, NULL);
	commit(w);

	begin(w);
	change(w, PGO_DELETE, rel, 'K');
	row(o, NUL, "3", NUL, NUL, NULL);
	commit(w);
}

static void
test_identity_full(void **state)
{
	struct walk *w = *state;
	const struct tuple *o = &w->dec.oldt, *n = &w->dec.newt;
	const struct rel *rel;

	seek(w, "ident_full");
	begin(w);
	rel = relation(w, "ident_full", 'f', 3);
	col(rel, 0, "id", 23, REL_COL_KEY);	/* FULL: every column is key */
	col(rel, 1, "note", 25, REL_COL_KEY);
	col(rel, 2, "big", 25, REL_COL_KEY);
	change(w, PGO_INSERT, rel, 0);
	row(n, "1", "one", BIG, NULL);
	change(w, PGO_INSERT, rel, 0);
	row(n, "2", NUL, NUL, NULL);
	commit(w);

	/* The old row is whole, TOAST included; the new one leaves it 'u'. */
	begin(w);
	change(w, PGO_UPDATE, rel, 'O');
	row(o, "1", "one", BIG, NULL);
	row(n, "1", "uno", UNCH, NULL);
	commit(w);

	begin(w);
	change(w, PGO_DELETE, rel, 'O');
	row(o, "2", NUL, NUL, NULL);
	commit(w);
}

static void
test_identity_index(void **state)
{
	struct walk *w = *state;
	const struct tuple *o = &w->dec.oldt, *n = &w->dec.newt;
	const struct rel *rel;

	seek(w, "ident_index");
	begin(w);
	rel = relation(w, "ident_index", 'i', 3);
	col(rel, 0, "a", 23, REL_COL_KEY);	/* the index columns */
	col(rel, 1, "b", 23, REL_COL_KEY);
	col(rel, 2, "c", 25, 0);
	change(w, PGO_INSERT, rel, 0);
	row(n, "1", "1", "c1", NULL);
	change(w, PGO_INSERT, rel, 0);
	row(n, "1", "2", NUL, NULL);
	commit(w);

	begin(w);
	change(w, PGO_UPDATE, rel, 0);		/* index columns unchanged */
	row(n, "1", "1", "c1b", NULL);
	commit(w);

	begin(w);
	change(w, PGO_UPDATE, rel, 'K');
	row(o, "1", "1", NUL, NULL);
	row(n, "1", "3", "c1b", NULL);
	commit(w);

	begin(w);
	change(w, PGO_DELETE, rel, 'K');
	row(o, "1", "2", NUL, NULL);
	commit(w);
}

static void
test_identity_nothing(void **state)
{
	struct walk *w = *state;
	const struct rel *rel;
	int inserts = 0;

	seek(w, "ident_nothing");
	begin(w);
	rel = relation(w, "ident_nothing", 'n', 2);
	col(rel, 0, "id", 23, 0);		/* no key at all */
	col(rel, 1, "note", 25, 0);
	change(w, PGO_INSERT, rel, 0);
	row(&w->dec.newt, "1", "only inserts", NULL);
	commit(w);

	/* Its UPDATE and DELETE were not published (publish = 'insert'). */
	while (w->i < nfx) {
		const struct pgo_msg *m = next(w, (char)fx[w->i].bytes[0]);

		if (m->type == PGO_UPDATE || m->type == PGO_DELETE)
			assert_int_not_equal(m->change.relid, rel->relid);
		if (m->type == PGO_INSERT && m->change.relid == rel->relid)
			inserts++;
	}
	assert_int_equal(inserts, 2);	/* the message and origin transactions */
}


int
main(int argc, char **argv)
{
#define WALK(t) cmocka_unit_test_setup_teardown(t, walk_setup, walk_teardown)
	const struct CMUnitTest tests[] = {
		WALK(test_identity_default),
		WALK(test_identity_full),
		WALK(test_identity_index),
		WALK(test_identity_nothing),
	};

	(void)argc;
	argv0 = argv[0];
	return cmocka_run_group_tests(tests, kinds_load, kinds_free);
}
