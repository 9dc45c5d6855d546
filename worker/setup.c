/*
 * setup: preflight and idempotent creation of publication and slot.
 * Never silently recreates a slot that pgcdc has progress for: that would
 * skip every change made while it was gone (DESIGN.md section 4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "common/util.h"
#include "worker/ddl.h"
#include "worker/setup.h"

#define SETUP_BUSY_WAIT_MS 3000

static int
check_wal_level(PGconn *c)
{
	PGresult *r = PQexec(c, "SHOW wal_level");
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("SHOW wal_level: %s", strtok(PQerrorMessage(c), "\n"));
		rc = 1;
	} else if (strcmp(PQgetvalue(r, 0, 0), "logical") != 0) {
		log_error("source has wal_level = %s; fix: set wal_level = logical "
		    "in postgresql.conf and restart PostgreSQL", PQgetvalue(r, 0, 0));
		rc = 2;
	}
	PQclear(r);
	return rc;
}

/* Is table (qualified, quoted) in the publication?  1 yes, 0 no, -1 error. */
static int
pub_has_table(PGconn *c, const char *pub, const char *table)
{
	const char *params[2] = { pub, table };
	PGresult *r = PQexecParams(c,
	    "SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p "
	    "ON p.oid = pr.prpubid WHERE p.pubname = $1 AND pr.prrelid = $2::regclass",
	    2, NULL, params, NULL, NULL, 0);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) > 0 : -1;

	if (rc < 0)
		log_error("publication %s: table %s: %s", pub, table,
		    strtok(PQerrorMessage(c), "\n"));
	PQclear(r);
	return rc;
}

/* Append the quoted, comma-separated table list of the slot to sql. */
static int
table_list(PGconn *c, const struct cfg_slot *slot, char *sql, size_t len)
{
	char q[300];
	size_t at = strlen(sql);

	for (size_t i = 0; i < slot->ntables; i++) {
		if (pgconn_quote_qualified(c, slot->tables[i], q, sizeof(q)) < 0)
			return -1;
		at += (size_t)snprintf(sql + at, len > at ? len - at : 0, "%s%s",
		    i ? ", " : "", q);
		if (at >= len)
			return -1;
	}
	return 0;
}

static int
ensure_publication(PGconn *c, const struct cfg_slot *slot)
{
	const char *params[1] = { slot->publication };
	char sql[8192], *qp;
	PGresult *r;
	int exists, via_root, rc = 0;

	r = PQexecParams(c, "SELECT pubviaroot FROM pg_publication WHERE pubname = $1",
	    1, NULL, params, NULL, NULL, 0);
	exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
	via_root = exists && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	qp = PQescapeIdentifier(c, slot->publication, strlen(slot->publication));
	if (!exists) {
		snprintf(sql, sizeof(sql), "CREATE PUBLICATION %s FOR TABLE ", qp);
		if (table_list(c, slot, sql, sizeof(sql)) < 0 ||
		    strlen(sql) + 64 >= sizeof(sql))
			rc = 2;
		else {
			snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
			    " WITH (publish_via_partition_root = %s)",
			    slot->via_root ? "true" : "false");
			rc = pgconn_exec(c, sql, PGRES_COMMAND_OK) < 0 ? 2 : 0;
		}
		if (rc == 0)
			log_info("created publication %s", slot->publication);
		goto out;
	}
	if (via_root != slot->via_root) {
		snprintf(sql, sizeof(sql), "ALTER PUBLICATION %s SET "
		    "(publish_via_partition_root = %s)", qp, slot->via_root ? "true" : "false");
		rc = pgconn_exec(c, sql, PGRES_COMMAND_OK) < 0 ? 2 : 0;
		if (rc == 0)
			log_info("publication %s: publish_via_partition_root = %s",
			    slot->publication, slot->via_root ? "true" : "false");
	}
	for (size_t i = 0; i < slot->ntables && rc == 0; i++) {
		char q[300];

		if (pgconn_quote_qualified(c, slot->tables[i], q, sizeof(q)) < 0)
			continue;
		switch (pub_has_table(c, slot->publication, q)) {
		case 0:
			snprintf(sql, sizeof(sql), "ALTER PUBLICATION %s ADD TABLE %s", qp, q);
			rc = pgconn_exec(c, sql, PGRES_COMMAND_OK) < 0 ? 2 : 0;
			if (rc == 0)
				log_info("added %s to publication %s", q, slot->publication);
			break;
		case -1:
			rc = 2;
			break;
		}
	}
out:
	PQfreemem(qp);
	if (rc)
		log_error("publication %s: fix the table list of slot %s or create the "
		    "publication yourself (CREATE PUBLICATION ... FOR TABLE ...)",
		    slot->publication, slot->name);
	return rc;
}

static int
create_slot(PGconn *c, const char *name)
{
	const char *params[1] = { name };
	PGresult *r = PQexecParams(c,
	    "SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
	    1, NULL, params, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("create replication slot %s: %s; fix: free a slot or raise "
		    "max_replication_slots", name, strtok(PQerrorMessage(c), "\n"));
		rc = 1;
	} else {
		log_info("created replication slot %s at %s", name, PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return rc;
}

static int
ensure_slot(PGconn *c, const char *name, int has_progress)
{
	const char *params[1] = { name };
	PGresult *r = PQexecParams(c,
	    "SELECT plugin, coalesce(wal_status, ''), active_pid "
	    "FROM pg_replication_slots WHERE slot_name = $1",
	    1, NULL, params, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("look up slot %s: %s", name, strtok(PQerrorMessage(c), "\n"));
		rc = 1;
	} else if (PQntuples(r) == 0) {
		if (has_progress) {
			log_error("replication slot %s is gone although pgcdc has streamed "
			    "from it: changes made since may have been missed; fix: to "
			    "start over with a fresh snapshot, stop pgcdc and remove "
			    "this slot's state (see README, \"Re-snapshot\")", name);
			rc = 2;
		} else {
			rc = create_slot(c, name);
		}
	} else if (strcmp(PQgetvalue(r, 0, 0), "pgoutput") != 0) {
		log_error("replication slot %s uses plugin %s; fix: drop it or choose "
		    "another slot name (pgcdc needs pgoutput)", name, PQgetvalue(r, 0, 0));
		rc = 2;
	} else if (strcmp(PQgetvalue(r, 0, 1), "lost") == 0) {
		log_error("replication slot %s is invalidated (wal_status lost, "
		    "max_slot_wal_keep_size exceeded): changes were lost; fix: "
		    "re-snapshot (see README, \"Re-snapshot\")", name);
		rc = 2;
	} else if (!PQgetisnull(r, 0, 2)) {
		rc = setup_slot_wait_free(c, name);
	}
	PQclear(r);
	return rc;
}

/* Who holds the slot: 0 nobody, else the walsender pid; *ours when its
 * application_name is ours (a predecessor of this worker).  -1 error. */
static int
slot_holder(PGconn *c, const char *name, int *ours)
{
	char app[96];
	const char *params[2] = { name, app };
	PGresult *r;
	int pid = -1;

	snprintf(app, sizeof(app), "pgcdc-%s", name);
	r = PQexecParams(c, "SELECT s.active_pid, coalesce(a.application_name = $2, false) "
	    "FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid "
	    "WHERE s.slot_name = $1", 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		pid = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoi(PQgetvalue(r, 0, 0)) : 0;
		*ours = PQntuples(r) && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	}
	PQclear(r);
	return pid;
}

int
setup_slot_wait_free(PGconn *c, const char *name)
{
	int64_t deadline = util_now_ms() + SETUP_BUSY_WAIT_MS;
	int pid, ours = 0, killed = 0;

	while ((pid = slot_holder(c, name, &ours)) > 0) {
		if (!ours) {
			log_error("replication slot %s is in use by another consumer "
			    "(walsender pid %d); fix: stop that consumer or give pgcdc "
			    "its own slot name", name, pid);
			return 1;
		}
		if (util_now_ms() > deadline && !killed) {
			/* Our dead predecessor's walsender has not noticed yet. */
			char sql[64];

			log_warn("slot %s still held by a previous walsender (pid %d); "
			    "terminating it", name, pid);
			snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
			pgconn_exec(c, sql, PGRES_TUPLES_OK);
			killed = 1;
			deadline = util_now_ms() + SETUP_BUSY_WAIT_MS;
		} else if (util_now_ms() > deadline) {
			log_error("replication slot %s is still busy (pid %d)", name, pid);
			return 1;
		}
		usleep(50 * 1000);
	}
	return pid < 0 ? 1 : 0;
}

int
setup_source(const struct cfg *cfg, const struct cfg_slot *slot, int has_progress,
    char *dbname, size_t dblen)
{
	enum pgconn_err err;
	char app[96];
	PGconn *c;
	int rc;

	snprintf(app, sizeof(app), "pgcdc-setup-%s", slot->name);
	if ((c = pgconn_open(cfg->conninfo, cfg->password_file, 0, app, &err)) == NULL)
		return err == PGCONN_FATAL ? 2 : 1;
	snprintf(dbname, dblen, "%s", PQdb(c));
	if ((rc = check_wal_level(c)) == 0 && (rc = ensure_publication(c, slot)) == 0)
		rc = ensure_slot(c, slot->name, has_progress);
	if (rc == 0)
		ddl_install(c);
	PQfinish(c);
	return rc;
}

int
setup_slot_free(const struct cfg *cfg, const char *name)
{
	enum pgconn_err err;
	PGconn *c = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-setup", &err);
	int rc;

	if (c == NULL)
		return err == PGCONN_FATAL ? 2 : 1;
	rc = setup_slot_wait_free(c, name);
	PQfinish(c);
	return rc;
}
