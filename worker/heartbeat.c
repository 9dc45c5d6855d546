/*
 * heartbeat: pg_logical_emit_message(false, 'pgcdc-heartbeat', '') every
 * heartbeat_interval seconds.  The worker (main.c) ignores the message but
 * takes its LSN as a confirmable position when nothing is in flight.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "worker/heartbeat.h"

void
heartbeat_tick(struct heartbeat *h, const struct cfg *cfg, const struct cfg_slot *slot,
    int64_t now_ms)
{
	enum pgconn_err err;
	PGresult *r;

	if (slot->heartbeat_interval <= 0 || now_ms < h->next_ms)
		return;
	h->next_ms = now_ms + slot->heartbeat_interval * 1000LL;
	if (h->conn == NULL &&
	    (h->conn = pgconn_open(cfg->conninfo, cfg->password_file, 0, "pgcdc-heartbeat", &err)) == NULL)
		return;
	r = PQexec(h->conn, "SELECT pg_logical_emit_message(false, 'pgcdc-heartbeat', '')");
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		if (h->warned)
			log_info("slot %s: heartbeats work again", slot->name);
		h->warned = 0;
	} else {
		if (!h->warned)
			log_warn("slot %s: heartbeat failed: %s; fix: GRANT EXECUTE ON FUNCTION "
			    "pg_logical_emit_message(boolean, text, text) to pgcdc's role, or set "
			    "heartbeat_interval = 0", slot->name, strtok(PQerrorMessage(h->conn), "\n"));
		h->warned = 1;
		if (PQstatus(h->conn) != CONNECTION_OK) {
			PQfinish(h->conn);
			h->conn = NULL;
		}
	}
	PQclear(r);
}

void
heartbeat_close(struct heartbeat *h)
{
	if (h->conn)
		PQfinish(h->conn);
	h->conn = NULL;
}
