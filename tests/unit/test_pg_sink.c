/*
 * test_pg_sink: the postgres sink's pure parts, without a server: the DDL
 * that makes a target table follow its relation (pgddl_plan), the SQL of
 * the statements that apply changes (pgsql_build: keys, unchanged TOAST
 * masks, keyless whole-row matching, parameter numbering, multi-row
 * deletes, the staging table of snapshot rows and its merge), COPY text
 * lines (pgcopy_line, pgcopy_escape), integer keys of rows that may go
 * straight into a table (pgcopy_key) and the type names kept from Type
 * messages (types_name).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/types.h"
#include "sink/pg.h"

static const char *
plan(int exists, const char *pk, const struct pgddl_col *have, size_t nhave,
    const struct pgddl_col *want, size_t nwant, int keyed, int *n)
{
	static struct buf b;

	buf_reset(&b);
	*n = pgddl_plan("\"s\".\"t\"", exists, pk, have, nhave, want, nwant, keyed, &b);
	buf_putc(&b, '\0');
	return (const char *)b.data;
}

static void
test_plan_create(void **state)
{
	struct pgddl_col want[] = {
		{ "id", "integer", 1, 0 }, { "we\"ird", "character varying(20)", 0, 0 }, { "k2", "text", 1, 0 },
	};
	int n;

	(void)state;
	assert_string_equal(plan(0, NULL, NULL, 0, want, 3, 1, &n),
	    "CREATE TABLE \"s\".\"t\" (\"id\" integer, \"we\"\"ird\" character varying(20), "
	    "\"k2\" text, PRIMARY KEY (\"id\", \"k2\")); ");
	assert_int_equal(n, 1);
	assert_string_equal(plan(0, NULL, NULL, 0, want, 2, 0, &n),
	    "CREATE TABLE \"s\".\"t\" (\"id\" integer, \"we\"\"ird\" character varying(20)); ");
	/* keyless: an index on the first column a btree can index */
	want[1].indexed = want[2].indexed = 1;
	assert_string_equal(plan(0, NULL, NULL, 0, want, 3, 0, &n),
	    "CREATE TABLE \"s\".\"t\" (\"id\" integer, \"we\"\"ird\" character varying(20), "
	    "\"k2\" text); CREATE INDEX ON \"s\".\"t\" (\"we\"\"ird\"); ");
	assert_int_equal(n, 2);
	assert_int_equal(pgddl_match_col(want, 3), 1);
	assert_int_equal(pgddl_match_col(want, 1), -1);
}

static void
test_plan_columns(void **state)
{
	struct pgddl_col have[] = {
		{ "id", "integer", 1, 0 }, { "a", "integer", 0, 0 }, { "b", "text", 0, 0 }, { "gone", "text", 0, 0 },
	};
	struct pgddl_col same[] = {
		{ "id", "integer", 1, 0 }, { "a", "integer", 0, 0 }, { "b", "text", 0, 0 }, { "gone", "text", 0, 0 },
	};
	/* b renamed to bee (same place, same type), a retyped; gone dropped and
	 * c added at its place with its type read as a rename too */
	struct pgddl_col want[] = {
		{ "id", "integer", 1, 0 }, { "a", "bigint", 0, 0 }, { "bee", "text", 0, 0 }, { "c", "text", 0, 0 },
	};
	/* at the same place but another type: not a rename */
	struct pgddl_col other[] = {
		{ "id", "integer", 1, 0 }, { "a", "integer", 0, 0 }, { "bee", "integer", 0, 0 }, { "gone", "text", 0, 0 },
	};
	int n;

	(void)state;
	assert_string_equal(plan(1, "t_pkey", have, 4, same, 4, 1, &n), "");
	assert_int_equal(n, 0);
	assert_string_equal(plan(1, "t_pkey", have, 4, want, 4, 1, &n),
	    "ALTER TABLE \"s\".\"t\" RENAME COLUMN \"b\" TO \"bee\"; "
	    "ALTER TABLE \"s\".\"t\" RENAME COLUMN \"gone\" TO \"c\"; "
	    "ALTER TABLE \"s\".\"t\" ALTER COLUMN \"a\" TYPE bigint USING CAST(CAST(\"a\" AS text) AS bigint); ");
	assert_int_equal(n, 3);
	/* c of another type than gone: drop + add */
	want[3].type = "integer";
	assert_string_equal(plan(1, "t_pkey", have, 4, want, 4, 1, &n),
	    "ALTER TABLE \"s\".\"t\" RENAME COLUMN \"b\" TO \"bee\"; "
	    "ALTER TABLE \"s\".\"t\" ALTER COLUMN \"a\" TYPE bigint USING CAST(CAST(\"a\" AS text) AS bigint); "
	    "ALTER TABLE \"s\".\"t\" DROP COLUMN \"gone\"; "
	    "ALTER TABLE \"s\".\"t\" ADD COLUMN \"c\" integer; ");
	assert_string_equal(plan(1, "t_pkey", have, 4, other, 4, 1, &n),
	    "ALTER TABLE \"s\".\"t\" DROP COLUMN \"b\"; "
	    "ALTER TABLE \"s\".\"t\" ADD COLUMN \"bee\" integer; ");
	assert_int_equal(n, 2);
	/* a column added at the end, one dropped in the middle */
	assert_string_equal(plan(1, "t_pkey", have, 3, have, 4, 1, &n),
	    "ALTER TABLE \"s\".\"t\" ADD COLUMN \"gone\" text; ");
	assert_string_equal(plan(1, "t_pkey", same, 4, (struct pgddl_col[]){ same[0], same[2], same[3] }, 3, 1, &n),
	    "ALTER TABLE \"s\".\"t\" DROP COLUMN \"a\"; ");
}

static void
test_plan_key(void **state)
{
	struct pgddl_col have[] = { { "id", "integer", 1, 0 }, { "a", "integer", 0, 0 } };
	struct pgddl_col want[] = { { "id", "integer", 1, 0 }, { "a", "integer", 1, 0 } };
	struct pgddl_col nokey[] = { { "id", "integer", 0, 0 }, { "a", "integer", 0, 0 } };
	int n;

	(void)state;
	assert_string_equal(plan(1, "t_pkey", have, 2, want, 2, 1, &n),
	    "ALTER TABLE \"s\".\"t\" DROP CONSTRAINT IF EXISTS \"t_pkey\"; "
	    "ALTER TABLE \"s\".\"t\" ADD PRIMARY KEY (\"id\", \"a\"); ");
	assert_string_equal(plan(1, NULL, nokey, 2, want, 2, 1, &n),
	    "ALTER TABLE \"s\".\"t\" ADD PRIMARY KEY (\"id\", \"a\"); ");
	/* keyless (REPLICA IDENTITY FULL): an existing key stays */
	assert_string_equal(plan(1, "t_pkey", have, 2, nokey, 2, 0, &n), "");
	/* a renamed key column is still the key */
	assert_string_equal(plan(1, "t_pkey", have, 2,
	    (struct pgddl_col[]){ { "ident", "integer", 1, 0 }, { "a", "integer", 0, 0 } }, 2, 1, &n),
	    "ALTER TABLE \"s\".\"t\" RENAME COLUMN \"id\" TO \"ident\"; ");
}

/* A table (id key, v, big) or keyless (a, b). */
static struct pg_col cols3[] = {
	{ "id", "integer", 23, -1, REL_COL_KEY }, { "v", "text", 25, -1, 0 }, { "big", "text", 25, -1, 0 },
};
static struct pg_col cols2[] = {
	{ "a", "integer", 23, -1, 0 }, { "j", "json", 114, -1, 0 },
};

static const char *
build(const struct pg_tab *t, char kind, uint8_t mask)
{
	static struct buf b;
	uint8_t m[2] = { mask, 0 };

	pgsql_build(t, kind, m, &b);
	return (const char *)b.data;
}

static void
test_build_keyed(void **state)
{
	struct pg_tab t = { .qname = "\"s\".\"t\"", .ncols = 3, .cols = cols3, .keyed = 1,
		.match_col = -1 };
	struct pg_tab k = { .qname = "\"s\".\"k\"", .ncols = 1, .cols = cols3, .keyed = 1,
		.match_col = -1 };

	(void)state;
	assert_string_equal(build(&t, 'I', 0),
	    "INSERT INTO \"s\".\"t\" (\"id\", \"v\", \"big\") VALUES ($1, $2, $3) ON CONFLICT (\"id\") "
	    "DO UPDATE SET \"v\" = EXCLUDED.\"v\", \"big\" = EXCLUDED.\"big\"");
	assert_string_equal(build(&k, 'I', 0),
	    "INSERT INTO \"s\".\"k\" (\"id\") VALUES ($1) ON CONFLICT (\"id\") DO NOTHING");
	/* big unchanged (bit 2): left out of SET; the key is the last parameter */
	assert_string_equal(build(&t, 'U', 1 << 2),
	    "UPDATE \"s\".\"t\" SET \"id\" = $1, \"v\" = $2 WHERE \"id\" = $3");
	assert_string_equal(build(&t, 'U', 0),
	    "UPDATE \"s\".\"t\" SET \"id\" = $1, \"v\" = $2, \"big\" = $3 WHERE \"id\" = $4");
	assert_string_equal(build(&t, 'D', 0), "DELETE FROM \"s\".\"t\" WHERE \"id\" = $1");
	/* the multi-row upsert: PG_BATCH rows, parameters numbered row by row */
	assert_int_equal(pgsql_batch_rows(&t), PG_BATCH);
	assert_non_null(strstr(build(&t, 'B', 0), "VALUES ($1, $2, $3), ($4, $5, $6), ("));
	assert_non_null(strstr(build(&t, 'B', 0), ", ($190, $191, $192) ON CONFLICT (\"id\") DO UPDATE"));
	assert_null(strstr(build(&t, 'B', 0), "$193"));
	t.ncols = 1200;	/* 65535 parameters at most */
	assert_int_equal(pgsql_batch_rows(&t), 54);
}

static void
test_build_keyless(void **state)
{
	struct pg_tab t = { .qname = "\"s\".\"f\"", .ncols = 2, .cols = cols2, .keyed = 0,
		.match_col = -1 };

	(void)state;
	assert_string_equal(build(&t, 'I', 0),
	    "INSERT INTO \"s\".\"f\" (\"a\", \"j\") SELECT CAST($1 AS integer), CAST($2 AS json) "
	    "WHERE NOT EXISTS (SELECT 1 FROM \"s\".\"f\" x WHERE "
	    "CAST(x.\"a\" AS text) IS NOT DISTINCT FROM CAST(CAST($1 AS integer) AS text) AND "
	    "CAST(x.\"j\" AS text) IS NOT DISTINCT FROM CAST(CAST($2 AS json) AS text))");
	/* new rows just go in, a batch at a time: the source can hold equal rows */
	assert_non_null(strstr(build(&t, 'N', 0),
	    "INSERT INTO \"s\".\"f\" (\"a\", \"j\") VALUES ($1, $2), ($3, $4), ("));
	assert_null(strstr(build(&t, 'N', 0), "ON CONFLICT"));
	assert_null(strstr(build(&t, 'N', 0), "NOT EXISTS"));
	/* new j unchanged (bit 1), old j unchanged too (bit 2 + 1) */
	assert_string_equal(build(&t, 'U', 1 << 1 | 1 << 3),
	    "UPDATE \"s\".\"f\" SET \"a\" = $1 WHERE ctid = (SELECT ctid FROM \"s\".\"f\" x WHERE "
	    "CAST(x.\"a\" AS text) IS NOT DISTINCT FROM CAST(CAST($2 AS integer) AS text) LIMIT 1)");
	assert_string_equal(build(&t, 'D', 0),
	    "DELETE FROM \"s\".\"f\" WHERE ctid = (SELECT ctid FROM \"s\".\"f\" x WHERE "
	    "CAST(x.\"a\" AS text) IS NOT DISTINCT FROM CAST(CAST($1 AS integer) AS text) AND "
	    "CAST(x.\"j\" AS text) IS NOT DISTINCT FROM CAST(CAST($2 AS json) AS text) LIMIT 1)");
	/* a is indexed on the target: = finds the candidates, NULL too */
	t.match_col = 0;
	assert_string_equal(build(&t, 'D', 0),
	    "DELETE FROM \"s\".\"f\" WHERE ctid = (SELECT ctid FROM \"s\".\"f\" x WHERE "
	    "(x.\"a\" = CAST($1 AS integer) OR x.\"a\" IS NULL AND $1 IS NULL) AND "
	    "CAST(x.\"a\" AS text) IS NOT DISTINCT FROM CAST(CAST($1 AS integer) AS text) AND "
	    "CAST(x.\"j\" AS text) IS NOT DISTINCT FROM CAST(CAST($2 AS json) AS text) LIMIT 1)");
	/* ... unless the old value of a is unchanged TOAST */
	assert_null(strstr(build(&t, 'U', 1 << 2), "x.\"a\" = "));
}

/* Deletes batched: an IN list for a single key, OR of key matches else. */
static void
test_build_deletes(void **state)
{
	static struct pg_col cols4[] = {
		{ "a", "integer", 23, -1, REL_COL_KEY }, { "b b", "text", 25, -1, REL_COL_KEY },
		{ "v", "text", 25, -1, 0 },
	};
	struct pg_tab t = { .qname = "\"s\".\"t\"", .ncols = 3, .cols = cols3, .keyed = 1,
		.match_col = -1 };
	struct pg_tab m = { .qname = "\"s\".\"m\"", .ncols = 3, .cols = cols4, .keyed = 1,
		.match_col = -1 };
	const char *sql;

	(void)state;
	sql = build(&t, 'X', 0);
	assert_non_null(strstr(sql, "DELETE FROM \"s\".\"t\" WHERE \"id\" IN ($1, $2, $3, "));
	assert_non_null(strstr(sql, ", $64)"));
	assert_null(strstr(sql, "$65"));
	sql = build(&m, 'X', 0);
	assert_non_null(strstr(sql, "DELETE FROM \"s\".\"m\" WHERE (\"a\" = $1 AND \"b b\" = $2) "
	    "OR (\"a\" = $3 AND \"b b\" = $4) OR ("));
	assert_non_null(strstr(sql, "OR (\"a\" = $127 AND \"b b\" = $128)"));
	assert_null(strstr(sql, "$129"));
	/* one row: the single delete */
	assert_string_equal(build(&m, 'D', 0),
	    "DELETE FROM \"s\".\"m\" WHERE \"a\" = $1 AND \"b b\" = $2");
}

/* Snapshot rows: the staging table, its merge (upsert; keyless: each new
 * distinct row once), emptying it. */
static void
test_build_stage(void **state)
{
	struct pg_tab t = { .qname = "\"s\".\"t\"", .ncols = 3, .cols = cols3, .keyed = 1,
		.match_col = -1, .stage = "pgcdc_stage_7" };
	struct pg_tab f = { .qname = "\"s\".\"f\"", .ncols = 2, .cols = cols2, .keyed = 0,
		.match_col = 0, .stage = "pgcdc_stage_8" };

	(void)state;
	assert_string_equal(build(&t, 'S', 0),
	    "CREATE TEMP TABLE \"pgcdc_stage_7\" AS SELECT \"id\", \"v\", \"big\" FROM \"s\".\"t\" "
	    "WITH NO DATA");
	assert_string_equal(build(&t, 'M', 0),
	    "INSERT INTO \"s\".\"t\" (\"id\", \"v\", \"big\") SELECT \"id\", \"v\", \"big\" FROM "
	    "pg_temp.\"pgcdc_stage_7\" ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\", "
	    "\"big\" = EXCLUDED.\"big\"");
	assert_string_equal(build(&t, 'T', 0), "TRUNCATE pg_temp.\"pgcdc_stage_7\"");
	assert_string_equal(build(&f, 'M', 0),
	    "INSERT INTO \"s\".\"f\" (\"a\", \"j\") SELECT DISTINCT ON (CAST(s.\"a\" AS text), "
	    "CAST(s.\"j\" AS text)) s.\"a\", s.\"j\" FROM pg_temp.\"pgcdc_stage_8\" s WHERE NOT EXISTS "
	    "(SELECT 1 FROM \"s\".\"f\" x WHERE (x.\"a\" = s.\"a\" OR x.\"a\" IS NULL AND s.\"a\" IS NULL) "
	    "AND CAST(x.\"a\" AS text) IS NOT DISTINCT FROM CAST(s.\"a\" AS text) AND "
	    "CAST(x.\"j\" AS text) IS NOT DISTINCT FROM CAST(s.\"j\" AS text))");
}

/* Straight COPY into a table with integer keys: the statement, the probe
 * for rows at or past a key, the keys read from a row. */
static void
test_copy_direct(void **state)
{
	static struct pg_col cols5[] = {
		{ "v", "text", 25, -1, 0 }, { "a", "bigint", 20, -1, REL_COL_KEY },
		{ "b", "smallint", 21, -1, REL_COL_KEY },
	};
	struct pg_tab t = { .qname = "\"s\".\"t\"", .ncols = 3, .cols = cols5, .keyed = 1 };
	struct pg_tab k = { .qname = "\"s\".\"k\"", .ncols = 3, .cols = cols3, .keyed = 1 };
	struct tuple_col c[3] = {
		{ 't', 1, (const uint8_t *)"x" }, { 't', 20, (const uint8_t *)"-9223372036854775808" },
		{ 't', 2, (const uint8_t *)"42" },
	};
	struct tuple tup = { .ncols = 3, .cap = 3, .cols = c };
	int64_t key[PG_COPY_KEYS];

	(void)state;
	assert_string_equal(build(&t, 'C', 0), "COPY \"s\".\"t\" (\"v\", \"a\", \"b\") FROM STDIN");
	assert_string_equal(build(&t, 'P', 0),
	    "SELECT EXISTS (SELECT 1 FROM \"s\".\"t\" WHERE (\"a\", \"b\") >= ($1, $2))");
	assert_int_equal(pgsql_int_keys(&t), 2);
	assert_int_equal(pgsql_int_keys(&k), 1);	/* integer id */
	cols3[0].type = "text";
	assert_int_equal(pgsql_int_keys(&k), 0);	/* a text key sorts by collation */
	cols3[0].type = "integer";
	k.keyed = 0;
	assert_int_equal(pgsql_int_keys(&k), 0);
	assert_int_equal(pgcopy_key(&t, &tup, key), 0);
	assert_true(key[0] == INT64_MIN && key[1] == 42);
	c[1].data = (const uint8_t *)"9223372036854775807";
	c[1].len = 19;
	assert_int_equal(pgcopy_key(&t, &tup, key), 0);
	assert_true(key[0] == INT64_MAX);
	c[1].data = (const uint8_t *)"9223372036854775808";	/* too big */
	assert_int_equal(pgcopy_key(&t, &tup, key), -1);
	c[1].data = (const uint8_t *)"-";
	c[1].len = 1;
	assert_int_equal(pgcopy_key(&t, &tup, key), -1);
	c[1].data = (const uint8_t *)"1e5";
	c[1].len = 3;
	assert_int_equal(pgcopy_key(&t, &tup, key), -1);
	c[1].kind = 'n';
	assert_int_equal(pgcopy_key(&t, &tup, key), -1);
}

static const char *
escape(const char *v)
{
	static struct buf b;

	buf_reset(&b);
	pgcopy_escape(&b, v, strlen(v));
	buf_putc(&b, '\0');
	return (const char *)b.data;
}

/* COPY text format: backslash, newline, CR and tab escaped, nothing else
 * (a lone "\." stays harmless: its backslash is doubled). */
static void
test_copy_escape(void **state)
{
	(void)state;
	assert_string_equal(escape(""), "");
	assert_string_equal(escape("plain {a,\"b c\"} 'q' \xc3\xa9"), "plain {a,\"b c\"} 'q' \xc3\xa9");
	assert_string_equal(escape("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
	assert_string_equal(escape("\\x00ff"), "\\\\x00ff");
	assert_string_equal(escape("\\."), "\\\\.");
	assert_string_equal(escape("\\N"), "\\\\N");
}

static void
test_copy_line(void **state)
{
	struct pg_tab t = { .qname = "\"s\".\"t\"", .ncols = 3, .cols = cols3, .keyed = 1 };
	struct tuple_col c[3] = {
		{ 't', 2, (const uint8_t *)"42" }, { 'n', 0, NULL }, { 't', 4, (const uint8_t *)"a\tb\n" },
	};
	struct tuple tup = { .ncols = 3, .cap = 3, .cols = c };
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(pgcopy_line(&t, &tup, &b), 0);
	assert_int_equal(pgcopy_line(&t, &tup, &b), 0);	/* lines append */
	buf_putc(&b, '\0');
	assert_string_equal((const char *)b.data, "42\t\\N\ta\\tb\\n\n42\t\\N\ta\\tb\\n\n");
	buf_reset(&b);
	c[1].len = 0;	/* an empty string is not NULL */
	c[1].kind = 't';
	c[1].data = (const uint8_t *)"";
	assert_int_equal(pgcopy_line(&t, &tup, &b), 0);
	assert_memory_equal(b.data, "42\t\ta\\tb\\n\n", b.len);
	c[2].kind = 'u';	/* unchanged TOAST has no value to copy */
	assert_int_equal(pgcopy_line(&t, &tup, &b), -1);
	buf_free(&b);
}

static void
test_types_name(void **state)
{
	const char *nsp, *typ;

	(void)state;
	types_reset();
	assert_false(types_name(16390, &nsp, &typ));
	types_put(16390, "public", "mood");
	types_put(16391, "pg_catalog", "int4");	/* a domain: its base type's name */
	types_put(16385, "my schema", "_pair");
	assert_true(types_name(16390, &nsp, &typ));
	assert_string_equal(nsp, "public");
	assert_string_equal(typ, "mood");
	assert_true(types_name(16385, &nsp, &typ));
	assert_string_equal(nsp, "my schema");
	assert_string_equal(typ, "_pair");
	assert_true(types_is_array(16385));
	types_put(16390, "other", "renamed");	/* dropped, oid reused */
	assert_true(types_name(16390, &nsp, &typ));
	assert_string_equal(typ, "renamed");
	assert_true(types_name(16391, &nsp, &typ));
	assert_string_equal(nsp, "pg_catalog");
	types_reset();
	assert_false(types_name(16390, &nsp, &typ));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_create),
		cmocka_unit_test(test_plan_columns),
		cmocka_unit_test(test_plan_key),
		cmocka_unit_test(test_build_keyed),
		cmocka_unit_test(test_build_keyless),
		cmocka_unit_test(test_build_deletes),
		cmocka_unit_test(test_build_stage),
		cmocka_unit_test(test_copy_escape),
		cmocka_unit_test(test_copy_line),
		cmocka_unit_test(test_copy_direct),
		cmocka_unit_test(test_types_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
