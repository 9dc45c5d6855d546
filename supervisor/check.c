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
check_server(PGconn *c)
{
	PGresult *r = query1(c, "SELECT current_setting('wal_level'), "
	    "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)",
	    0, NULL);
	char msg[256];

	if (r == NULL) {
		problem("cannot read server settings", "check the role's privileges");
		return;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "logical") != 0) {
		snprintf(msg, sizeof(msg), "wal_level is %s", PQgetvalue(r, 0, 0));
		problem(msg, "set wal_level = logical in postgresql.conf and restart PostgreSQL");
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
		problem("the role has no REPLICATION privilege", "ALTER ROLE <user> REPLICATION");
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

/* A publication that exists must be one the role may alter (its owner). */
static void
check_publication(PGconn *c, const struct cfg_slot *s)
{
	for (int k = 0; k < s->shards; k++) {
		char pub[256], msg[384];
		const char *p[1] = { pub };
		PGresult *r;

		cfg_slot_publication(s, k, pub, sizeof(pub));
		if ((r = query1(c, "SELECT pg_has_role(pubowner, 'USAGE') OR "
		    "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
		    "FROM pg_publication WHERE pubname = $1", 1, p)) == NULL)
			continue;	/* created on first start */
		if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
			snprintf(msg, sizeof(msg), "publication %s belongs to another role: pgcdc "
			    "cannot keep its table list", pub);
			problem(msg, "ALTER PUBLICATION ... OWNER TO <pgcdc's role>");
		}
		PQclear(r);
	}
}

static void
check_table(PGconn *c, const char *slot, const char *table)
{
	char q[300], msg[512];
	const char *p[1] = { q };
	PGresult *r;

	if (strchr(table, '*'))
		return;		/* patterns are expanded by the worker */
	if (pgconn_quote_qualified(c, table, q, sizeof(q)) < 0)
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
		check_server(c);
		check_headroom(c, cfg);
		for (size_t i = 0; i < cfg->nslots; i++) {
			check_publication(c, &cfg->slots[i]);
			check_stream(c, &cfg->slots[i]);
		}
		for (size_t i = 0; i < cfg->nslots; i++)
			for (size_t j = 0; j < cfg->slots[i].ntables; j++)
				check_table(c, cfg->slots[i].name, cfg->slots[i].tables[j]);
		PQfinish(c);
	}
	cfg_free(cfg);
	if (problems == 0)
		printf("ok: config and source are ready\n");
	return problems ? 2 : 0;
}
