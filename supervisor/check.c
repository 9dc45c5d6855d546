/*
 * check: `pgcdc check`, a preflight of config and source.  Every problem is
 * one line with its fix; exit 2 if there is any.  Read-only on the source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/pgconn.h"
#include "supervisor/sup.h"

static int problems;

static void
problem(const char *what, const char *fix)
{
	printf("problem: %s; fix: %s\n", what, fix);
	problems++;
}

static PGresult *
query1(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
		PQclear(r);
		return NULL;
	}
	return r;
}

static void
check_server(PGconn *c, const char *user)
{
	PGresult *r = query1(c, "SELECT current_setting('wal_level'), "
	    "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)",
	    0, NULL);
	char msg[256], fix[256];

	if (r == NULL) {
		problem("cannot read server settings", "check the role's privileges");
		return;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "logical") != 0) {
		snprintf(msg, sizeof(msg), "wal_level is %s", PQgetvalue(r, 0, 0));
		problem(msg, "set wal_level = logical in postgresql.conf and restart PostgreSQL");
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		snprintf(msg, sizeof(msg), "role %s has no REPLICATION privilege", user);
		snprintf(fix, sizeof(fix), "ALTER ROLE %s REPLICATION", user);
		problem(msg, fix);
	}
	PQclear(r);
}

/* Room for the slots and walsenders pgcdc needs (its own slots that exist
 * already take no new room), and the state of those that exist. */
static void
check_headroom(PGconn *c, const struct cfg *cfg)
{
	PGresult *r = query1(c, "SELECT current_setting('max_replication_slots')::int, "
	    "(SELECT count(*) FROM pg_replication_slots), "
	    "current_setting('max_wal_senders')::int, "
	    "(SELECT count(*) FROM pg_stat_replication)", 0, NULL);
	int need = 0, have_own = 0;
	char msg[256], fix[160];

	if (r == NULL)
		return;
	for (size_t i = 0; i < cfg->nslots; i++)
		for (int k = 0; k < cfg->slots[i].shards; k++) {
			char name[128];
			const char *p[1] = { name };
			PGresult *s;

			cfg_slot_name(&cfg->slots[i], k, name, sizeof(name));
			need++;
			s = query1(c, "SELECT active, coalesce(wal_status, ''), plugin, coalesce("
			    "(SELECT application_name FROM pg_stat_replication WHERE pid = active_pid), '') "
			    "FROM pg_replication_slots WHERE slot_name = $1", 1, p);
			if (s == NULL)
				continue;	/* created on first start */
			have_own++;
			if (strcmp(PQgetvalue(s, 0, 1), "lost") == 0) {
				snprintf(msg, sizeof(msg), "replication slot %s is invalidated (its WAL "
				    "was removed)", name);
				problem(msg, "see README \"Re-snapshot\": drop the slot and start over");
			} else if (strcmp(PQgetvalue(s, 0, 2), "pgoutput") != 0) {
				snprintf(msg, sizeof(msg), "replication slot %s uses plugin %s", name,
				    PQgetvalue(s, 0, 2));
				problem(msg, "drop it or give the pgcdc slot another name");
			} else if (strcmp(PQgetvalue(s, 0, 0), "t") == 0 &&
			    strncmp(PQgetvalue(s, 0, 3), "pgcdc-", 6) != 0) {
				snprintf(msg, sizeof(msg), "replication slot %s is in use by another "
				    "consumer (%s)", name, PQgetvalue(s, 0, 3));
				problem(msg, "stop that consumer or give the pgcdc slot another name");
			}
			PQclear(s);
		}
	if (atoi(PQgetvalue(r, 0, 1)) + need - have_own > atoi(PQgetvalue(r, 0, 0))) {
		snprintf(msg, sizeof(msg), "max_replication_slots = %s, %s in use, pgcdc needs %d "
		    "more", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), need - have_own);
		snprintf(fix, sizeof(fix), "raise max_replication_slots to at least %d and restart "
		    "PostgreSQL", atoi(PQgetvalue(r, 0, 1)) + need - have_own);
		problem(msg, fix);
	}
	if (atoi(PQgetvalue(r, 0, 3)) + need > atoi(PQgetvalue(r, 0, 2))) {
		snprintf(msg, sizeof(msg), "max_wal_senders = %s, %s streaming now, pgcdc needs %d",
		    PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), need);
		snprintf(fix, sizeof(fix), "raise max_wal_senders to at least %d and restart "
		    "PostgreSQL", atoi(PQgetvalue(r, 0, 3)) + need);
		problem(msg, fix);
	}
	PQclear(r);
}

/* Does publication pub hold exactly the slot's tables?  Only known for a
 * slot of one shard without patterns (else the worker decides): -1. */
static int
pub_holds_tables(PGconn *c, const struct cfg_slot *s, const char *pub)
{
	char list[4096] = "";
	const char *p[2] = { pub, list };
	size_t off = 0;
	PGresult *r;
	int same;

	for (size_t j = 0; j < s->ntables; j++) {
		if (s->shards != 1 || strchr(s->tables[j], '*'))
			return -1;
		if (pgconn_quote_qualified(c, s->tables[j], list + off, sizeof(list) - off - 1) < 0)
			return -1;
		off += strlen(list + off);
		list[off++] = '\n';
		list[off] = '\0';
	}
	if ((r = query1(c, "SELECT (SELECT coalesce(array_agg(prrelid ORDER BY prrelid), '{}') "
	    "FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
	    "WHERE p.pubname = $1)::text = (SELECT coalesce(array_agg(DISTINCT to_regclass(t)::oid "
	    "ORDER BY to_regclass(t)::oid), '{}') FROM unnest(string_to_array(rtrim($2, E'\\n'), "
	    "E'\\n')) t)::text", 2, p)) == NULL)
		return -1;
	same = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return same;
}

/*
 * pgcdc creates a missing publication (CREATE on the database) and sets the
 * table list of one that differs (it must own it); both need the tables'
 * ownership (checked per table).  A pre-created publication that already
 * holds exactly the slot's tables needs neither.  *manage tells the caller.
 */
static void
check_publication(PGconn *c, const struct cfg_slot *s, const char *user, int *manage)
{
	*manage = 0;
	for (int k = 0; k < s->shards; k++) {
		char pub[256], msg[512], fix[1024];
		const char *p[1] = { pub };
		PGresult *r;

		cfg_slot_publication(s, k, pub, sizeof(pub));
		if ((r = query1(c, "SELECT pg_has_role(pubowner, 'USAGE'), pubowner::regrole "
		    "FROM pg_publication WHERE pubname = $1", 1, p)) == NULL) {
			*manage = 1;
			if ((r = query1(c, "SELECT has_database_privilege(current_database(), "
			    "'CREATE'), quote_ident(current_database())", 0, NULL)) == NULL)
				continue;
			if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
				snprintf(msg, sizeof(msg), "publication %s does not exist and role %s "
				    "may not create it", pub, user);
				snprintf(fix, sizeof(fix), "GRANT CREATE ON DATABASE %s TO %s, or let "
				    "its owner CREATE PUBLICATION %s FOR TABLE <the slot's tables>",
				    PQgetvalue(r, 0, 1), user, pub);
				problem(msg, fix);
			}
		} else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0 && pub_holds_tables(c, s, pub) != 1) {
			snprintf(msg, sizeof(msg), "publication %s belongs to role %s: pgcdc cannot "
			    "keep its table list", pub, PQgetvalue(r, 0, 1));
			snprintf(fix, sizeof(fix), "ALTER PUBLICATION %s OWNER TO %s, or ALTER "
			    "PUBLICATION %s SET TABLE <the slot's tables> as its owner", pub, user, pub);
			problem(msg, fix);
		} else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0 && pub_holds_tables(c, s, pub) != 1) {
			*manage = 1;
		}
		PQclear(r);
	}
}

/* The role reads the table (snapshot) and, when pgcdc manages the
 * publication, owns it (CREATE/ALTER PUBLICATION ... TABLE require that). */
static void
check_table_rights(PGconn *c, const char *slot, const char *table, const char *q,
    const char *user, int manage)
{
	const char *p[1] = { q };
	char msg[512], fix[512];
	PGresult *r;

	if ((r = query1(c, "SELECT has_table_privilege(to_regclass($1), 'SELECT'), "
	    "pg_has_role(relowner, 'USAGE'), relowner::regrole, "
	    "format('%I.%I', (SELECT nspname FROM pg_namespace WHERE oid = relnamespace), "
	    "relname) FROM pg_class "
	    "WHERE oid = to_regclass($1)", 1, p)) == NULL)
		return;
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		snprintf(msg, sizeof(msg), "slot %s: role %s may not read table %s", slot, user, table);
		snprintf(fix, sizeof(fix), "GRANT SELECT ON %s TO %s", PQgetvalue(r, 0, 3), user);
		problem(msg, fix);
	}
	if (manage && strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		snprintf(msg, sizeof(msg), "slot %s: pgcdc must set up its publication, and "
		    "only the owner of table %s (%s) may add it to one", slot, table,
		    PQgetvalue(r, 0, 2));
		snprintf(fix, sizeof(fix), "GRANT %s TO %s (README: PostgreSQL role), or "
		    "pre-create the publication", PQgetvalue(r, 0, 2), user);
		problem(msg, fix);
	}
	PQclear(r);
}

/* The table's schema must be usable: to_regclass fails without USAGE. */
static int
check_schema(PGconn *c, const char *slot, const char *table, const char *user)
{
	char schema[128], msg[512], fix[512];
	const char *dot = strchr(table, '.'), *p[1] = { schema };
	PGresult *r;
	int ok;

	if (dot == NULL || (size_t)(dot - table) >= sizeof(schema))
		return -1;
	memcpy(schema, table, (size_t)(dot - table));
	schema[dot - table] = '\0';
	if ((r = query1(c, "SELECT has_schema_privilege(oid, 'USAGE'), quote_ident(nspname) "
	    "FROM pg_namespace WHERE nspname = $1", 1, p)) == NULL)
		return 0;	/* missing: reported as a missing table */
	if (!(ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0)) {
		snprintf(msg, sizeof(msg), "slot %s: role %s may not use schema %s (table %s)",
		    slot, user, schema, table);
		snprintf(fix, sizeof(fix), "GRANT USAGE ON SCHEMA %s TO %s", PQgetvalue(r, 0, 1), user);
		problem(msg, fix);
	}
	PQclear(r);
	return ok ? 0 : -1;
}

static void
check_table(PGconn *c, const char *slot, const char *table, const char *user, int manage)
{
	char q[300], msg[512];
	const char *p[1] = { q };
	PGresult *r;

	if (strchr(table, '*'))
		return;		/* patterns are expanded by the worker */
	if (pgconn_quote_qualified(c, table, q, sizeof(q)) < 0 ||
	    check_schema(c, slot, table, user) < 0)
		return;
	r = query1(c, "SELECT relreplident, "
	    "EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass($1) AND indisprimary) "
	    "FROM pg_class WHERE oid = to_regclass($1)", 1, p);
	if (r == NULL) {
		snprintf(msg, sizeof(msg), "slot %s: table %s does not exist", slot, table);
		problem(msg, "create it or remove it from the slot's tables");
		return;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "n") == 0 ||
	    (strcmp(PQgetvalue(r, 0, 0), "d") == 0 && strcmp(PQgetvalue(r, 0, 1), "t") != 0)) {
		snprintf(msg, sizeof(msg), "slot %s: table %s has no usable replica identity "
		    "(UPDATE and DELETE would fail on the source)", slot, table);
		problem(msg, "add a primary key or ALTER TABLE ... REPLICA IDENTITY FULL");
	}
	PQclear(r);
	check_table_rights(c, slot, table, q, user, manage);
}

/* Without the event trigger pgcdc_ddl (a superuser's to create) schema
 * renames show in events only after a restart: a note, not a problem, and
 * only beside "ok" (a failed check prints its problems alone). */
static void
check_ddl_trigger(PGconn *c)
{
	PGresult *r = query1(c, "SELECT EXISTS (SELECT FROM pg_event_trigger WHERE evtname = "
	    "'pgcdc_ddl') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)", 0, NULL);

	if (r != NULL && strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		printf("note: no event trigger pgcdc_ddl and the role is no superuser: events "
		    "follow ALTER SCHEMA ... RENAME only after a restart; fix: a superuser runs "
		    "the SQL in README \"PostgreSQL role\" once\n");
	PQclear(r);
}

static void
check_source(PGconn *c, const struct cfg *cfg)
{
	PGresult *r = query1(c, "SELECT quote_ident(current_user)", 0, NULL);
	const char *user = r ? PQgetvalue(r, 0, 0) : "<user>";

	check_server(c, user);
	check_headroom(c, cfg);
	for (size_t i = 0; i < cfg->nslots && r; i++) {
		int manage;

		check_publication(c, &cfg->slots[i], user, &manage);
		for (size_t j = 0; j < cfg->slots[i].ntables; j++)
			check_table(c, cfg->slots[i].name, cfg->slots[i].tables[j], user, manage);
	}
	if (problems == 0)
		check_ddl_trigger(c);
	PQclear(r);
}

static void
check_stream(PGconn *c, const struct cfg_slot *s)
{
	char msg[200];

	if (!s->stream || PQserverVersion(c) >= 140000)
		return;
	snprintf(msg, sizeof(msg), "slot %s: stream_in_progress needs PostgreSQL 14 or "
	    "later (the source is %d)", s->name, PQserverVersion(c));
	problem(msg, "set stream_in_progress = false or upgrade the source");
}

int
sup_check(const char *config)
{
	struct cfg *cfg = sup_load_config(config, stdout);
	enum pgconn_err perr;
	PGconn *c;

	log_init("check", NULL);
	if (cfg == NULL)
		return 2;
	if ((c = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-check", &perr)) == NULL) {
		printf("problem: %s%s\n", pgconn_last_error(), strstr(pgconn_last_error(),
		    "fix:") ? "" : "; fix: correct source.conninfo, or start the server");
		problems++;
	} else {
		check_source(c, cfg);
		for (size_t i = 0; i < cfg->nslots; i++)
			check_stream(c, &cfg->slots[i]);
		PQfinish(c);
	}
	cfg_free(cfg);
	if (problems == 0)
		printf("ok: config and source are ready\n");
	return problems ? 2 : 0;
}
