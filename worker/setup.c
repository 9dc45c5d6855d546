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

/* The slot's tables, quoted and qualified: sep-separated into b. */
static int
table_list(PGconn *c, const struct cfg_slot *slot, const char *sep, struct buf *b)
{
	char q[300];

	for (size_t i = 0; i < slot->ntables; i++) {
		if (pgconn_quote_qualified(c, slot->tables[i], q, sizeof(q)) < 0)
			return -1;
		buf_printf(b, "%s%s", i ? sep : "", q);
	}
	buf_putc(b, '\0');
	return 0;
}

/* Does publication pub hold exactly these tables (newline-separated)?
 * 1 yes, 0 no, -1 error (a table that does not exist, say).  *held gets
 * the tables it holds now, comma-separated. */
static int
pub_matches(PGconn *c, const char *pub, const char *tables, struct buf *held)
{
	const char *params[2] = { pub, tables };
	PGresult *r = PQexecParams(c,
	    "WITH h AS (SELECT prrelid FROM pg_publication_rel pr JOIN pg_publication p "
	    " ON p.oid = pr.prpubid WHERE p.pubname = $1) "
	    "SELECT (SELECT coalesce(array_agg(prrelid ORDER BY prrelid), '{}') FROM h)::text = "
	    "(SELECT coalesce(array_agg(DISTINCT t::regclass::oid ORDER BY t::regclass::oid), '{}') "
	    " FROM unnest(string_to_array(nullif($2, ''), E'\\n')) t)::text, "
	    "(SELECT coalesce(string_agg(prrelid::regclass::text, ', '), '') FROM h)",
	    2, NULL, params, NULL, NULL, 0);
	int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? strcmp(PQgetvalue(r, 0, 0), "t") == 0 : -1;

	if (rc >= 0)	/* on error the caller reports the server's message */
		buf_puts(held, PQgetvalue(r, 0, 1));
	PQclear(r);
	return rc;
}

/*
 * The slot's publication holds exactly its tables (created, or set with
 * ALTER PUBLICATION ... SET TABLE: tables added to the list are added,
 * removed ones dropped), with the slot's publish_via_partition_root.
 */
static int
ensure_publication(PGconn *c, const struct cfg_slot *slot)
{
	const char *params[1] = { slot->publication };
	struct buf list = { 0 }, lines = { 0 }, held = { 0 }, sql = { 0 };
	const char *via = slot->via_root ? "true" : "false";
	char *qp;
	PGresult *r;
	int exists, via_root, rc = 2, same = 0;

	r = PQexecParams(c, "SELECT pubviaroot FROM pg_publication WHERE pubname = $1",
	    1, NULL, params, NULL, NULL, 0);
	exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
	via_root = exists && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	qp = PQescapeIdentifier(c, slot->publication, strlen(slot->publication));
	if (table_list(c, slot, ", ", &list) < 0 || table_list(c, slot, "\n", &lines) < 0 ||
	    (exists && (same = pub_matches(c, slot->publication, (char *)lines.data, &held)) < 0))
		goto out;
	if (!exists)
		buf_printf(&sql, "CREATE PUBLICATION %s %s%s WITH (publish_via_partition_root = %s)",
		    qp, slot->ntables ? "FOR TABLE " : "", (char *)list.data, via);
	else if (!same && slot->ntables > 0)
		buf_printf(&sql, "ALTER PUBLICATION %s SET TABLE %s", qp, (char *)list.data);
	else if (!same)		/* no table left (a shard without tables) */
		buf_printf(&sql, "ALTER PUBLICATION %s DROP TABLE %s", qp, (char *)held.data);
	if (sql.len > 0) {
		buf_putc(&sql, '\0');
		if (pgconn_exec(c, (char *)sql.data, PGRES_COMMAND_OK) < 0)
			goto out;
		log_info("%s publication %s (%zu tables)", exists ? "updated" : "created",
		    slot->publication, slot->ntables);
	}
	if (exists && via_root != slot->via_root) {
		buf_reset(&sql);
		buf_printf(&sql, "ALTER PUBLICATION %s SET (publish_via_partition_root = %s)",
		    qp, via);
		buf_putc(&sql, '\0');
		if (pgconn_exec(c, (char *)sql.data, PGRES_COMMAND_OK) < 0)
			goto out;
		log_info("publication %s: publish_via_partition_root = %s", slot->publication, via);
	}
	rc = 0;
out:
	PQfreemem(qp);
	buf_free(&list);
	buf_free(&lines);
	buf_free(&held);
	buf_free(&sql);
	if (rc)
		log_error("publication %s: %s; fix: the table list of slot %s (every table "
		    "must exist), or create the publication yourself (CREATE PUBLICATION ... "
		    "FOR TABLE ...)", slot->publication, PQerrorMessage(c)[0] ?
		    strtok(PQerrorMessage(c), "\n") : "cannot be set up", slot->name);
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
ensure_slot(PGconn *c, const char *name, int has_progress, const int *ours)
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
		rc = setup_slot_wait_free(c, name, ours);
	}
	PQclear(r);
	return rc;
}

/* Who holds the slot: 0 nobody, else the walsender pid (and its
 * application_name into app).  -1 error. */
static int
slot_holder(PGconn *c, const char *name, char *app, size_t applen)
{
	const char *params[1] = { name };
	PGresult *r;
	int pid = -1;

	r = PQexecParams(c, "SELECT s.active_pid, coalesce(a.application_name, '?') "
	    "FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid "
	    "WHERE s.slot_name = $1", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		pid = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoi(PQgetvalue(r, 0, 0)) : 0;
		snprintf(app, applen, "%s", pid > 0 ? PQgetvalue(r, 0, 1) : "");
	}
	PQclear(r);
	return pid;
}

int
setup_slot_wait_free(PGconn *c, const char *name, const int *ours)
{
	int64_t deadline = util_now_ms() + SETUP_BUSY_WAIT_MS;
	int pid, killed = 0;
	char app[64];	/* NAMEDATALEN */

	while ((pid = slot_holder(c, name, app, sizeof(app))) > 0) {
		if (pid != ours[0] && pid != ours[1]) {
			/* Not one this state dir's workers started: never touched. */
			log_error("replication slot %s is active: another consumer streams "
			    "from it (walsender pid %d, application_name '%s'), perhaps a "
			    "second pgcdc with another state_dir; fix: stop that consumer, "
			    "or give this pgcdc a slot name of its own", name, pid, app);
			return 2;
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
    const int *ours, char *dbname, size_t dblen)
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
		rc = ensure_slot(c, slot->name, has_progress, ours);
	if (rc == 0)
		ddl_install(c);
	PQfinish(c);
	return rc;
}

int
setup_slot_free(const struct cfg *cfg, const char *name, const int *ours)
{
	enum pgconn_err err;
	PGconn *c = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-setup", &err);
	int rc;

	if (c == NULL)
		return err == PGCONN_FATAL ? 2 : 1;
	rc = setup_slot_wait_free(c, name, ours);
	PQfinish(c);
	return rc;
}
