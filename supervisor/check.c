/*
 * check: `pgcdc check`, a preflight of config and source.  Every problem is
 * one line with its fix; exit 2 if there is any.  Read-only on the source.
 */
#include <stdio.h>
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
