/*
 * repl: replication protocol over libpq.  Everything read is bounds-checked;
 * a CopyData message we cannot parse ends the stream with its LSN logged.
 * Feedback flush LSN = what every sink holds durably (DESIGN.md section 4).
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/pgconn.h"
#include "common/pgo.h"
#include "common/util.h"
#include "worker/repl.h"

static int
identify(struct repl *r)
{
	PGresult *res = PQexec(r->conn, "IDENTIFY_SYSTEM");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) < 4) {
		log_error("IDENTIFY_SYSTEM: %s", strtok(PQerrorMessage(r->conn), "\n"));
		rc = 1;
	} else {
		snprintf(r->dbname, sizeof(r->dbname), "%s", PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return rc;
}

static int
start_replication(struct repl *r, const struct cfg_slot *slot, lsn_t start)
{
	char sql[1024], l[LSN_BUFLEN], *qs, *lit;
	const char *proto = slot->stream ? "'2', streaming 'on'" : "'1'";
	PGresult *res;
	int rc = 0;

	qs = PQescapeIdentifier(r->conn, slot->name, strlen(slot->name));
	lit = PQescapeLiteral(r->conn, slot->publication, strlen(slot->publication));
	snprintf(sql, sizeof(sql), "START_REPLICATION SLOT %s LOGICAL %s "
	    "(proto_version %s, publication_names %s, messages 'true')",
	    qs, lsn_format(start, l), proto, lit);
	PQfreemem(qs);
	PQfreemem(lit);
	res = PQexec(r->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		const char *e = strtok(PQerrorMessage(r->conn), "\n");

		log_error("START_REPLICATION of slot %s: %s", slot->name, e ? e : "?");
		/* A slot dropped between setup and now is the same fatal case. */
		rc = (e && strstr(e, "does not exist")) ? 2 : 1;
	} else {
		log_info("streaming slot %s from %s (database %s)", slot->name, l,
		    r->dbname);
	}
	PQclear(res);
	return rc;
}

int
repl_start(struct repl *r, const struct cfg *cfg, const struct cfg_slot *slot,
    lsn_t start, int (*claim)(int walsender_pid))
{
	enum pgconn_err err;
	char app[96];
	int rc;

	memset(r, 0, sizeof(*r));
	r->flushed = start;
	r->received = start;
	snprintf(app, sizeof(app), "pgcdc-%s", slot->name);
	r->conn = pgconn_open(cfg->conninfo, cfg->password_file, 1, app, &err);
	if (r->conn == NULL)
		return err == PGCONN_FATAL ? 2 : 1;
	if (slot->stream && PQserverVersion(r->conn) < 140000) {
		log_error("slot %s: stream_in_progress needs PostgreSQL 14 or later "
		    "(the server is %d)", slot->name, PQserverVersion(r->conn));
		PQfinish(r->conn);
		r->conn = NULL;
		return 2;
	}
	if ((rc = identify(r)) == 0 && (rc = claim(PQbackendPID(r->conn)) < 0 ? 1 : 0) == 0 &&
	    (rc = start_replication(r, slot, start)) == 0) {
		if (PQsetnonblocking(r->conn, 1) == 0)
			return 0;
		rc = 1;
	}
	PQfinish(r->conn);
	r->conn = NULL;
	return rc;
}

static int
parse_copydata(struct repl *r, const uint8_t *p, size_t n, struct repl_msg *m)
{
	struct rd rd;
	uint8_t kind, reply;
	uint64_t send_time;

	rd_init(&rd, p, n);
	memset(m, 0, sizeof(*m));
	if (rd_u8(&rd, &kind) < 0)
		goto bad;
	m->kind = (char)kind;
	if (kind == 'w') {
		if (rd_u64(&rd, &m->data_start) < 0 || rd_u64(&rd, &m->wal_end) < 0 ||
		    rd_u64(&rd, &send_time) < 0 || rd_left(&rd) == 0)
			goto bad;
		m->data = rd.p;
		m->len = rd_left(&rd);
	} else if (kind == 'k') {
		if (rd_u64(&rd, &m->wal_end) < 0 || rd_u64(&rd, &send_time) < 0 ||
		    rd_u8(&rd, &reply) < 0)
			goto bad;
		m->reply = reply != 0;
	} else {
		goto bad;
	}
	if (m->wal_end > r->received)
		r->received = m->wal_end;
	return 1;
bad:
	{
		char l[LSN_BUFLEN];

		log_error("malformed replication message (type 0x%02x, %zu bytes) "
		    "after %s", n ? p[0] : 0, n, lsn_format(r->received, l));
	}
	return -1;
}

int
repl_read(struct repl *r, struct repl_msg *m)
{
	int n;

	if (r->copybuf) {
		PQfreemem(r->copybuf);
		r->copybuf = NULL;
	}
	n = PQgetCopyData(r->conn, &r->copybuf, 1);
	if (n == 0) {
		if (PQconsumeInput(r->conn) == 0)
			goto fail;
		n = PQgetCopyData(r->conn, &r->copybuf, 1);
		if (n == 0)
			return 0;
	}
	if (n > 0)
		return parse_copydata(r, (const uint8_t *)r->copybuf, (size_t)n, m);
	if (n == -1) {
		PGresult *res = PQgetResult(r->conn);

		log_error("replication stream ended: %s",
		    PQresultStatus(res) == PGRES_COMMAND_OK ? "server closed it" :
		    strtok(PQerrorMessage(r->conn), "\n"));
		PQclear(res);
		return -1;
	}
fail:
	log_error("replication connection: %s", strtok(PQerrorMessage(r->conn), "\n"));
	return -1;
}

int
repl_status(struct repl *r, lsn_t confirmed, int64_t now_ms)
{
	struct buf b = { 0 };
	uint8_t msg[34];
	int64_t now_pg = util_wall_ms() * 1000 - PGO_EPOCH_OFFSET_US;
	int rc = 0;

	if (confirmed > r->flushed)
		r->flushed = confirmed;
	/* Fixed-size message on the stack: no allocation per status update. */
	b.data = msg; b.cap = sizeof(msg);
	buf_put_u8(&b, 'r');
	buf_put_u64(&b, r->received > r->flushed ? r->received : r->flushed);
	buf_put_u64(&b, r->flushed);
	buf_put_u64(&b, r->flushed);
	buf_put_u64(&b, (uint64_t)now_pg);
	buf_put_u8(&b, 0);
	if (PQputCopyData(r->conn, (const char *)msg, (int)b.len) <= 0 ||
	    PQflush(r->conn) < 0) {
		log_error("send status update: %s", strtok(PQerrorMessage(r->conn), "\n"));
		rc = -1;
	}
	r->last_status_ms = now_ms;
	return rc;
}

int
repl_socket(const struct repl *r)
{
	return r->conn ? PQsocket(r->conn) : -1;
}

void
repl_close(struct repl *r)
{
	if (r->copybuf)
		PQfreemem(r->copybuf);
	r->copybuf = NULL;
	if (r->conn) {
		PQputCopyEnd(r->conn, NULL);
		PQflush(r->conn);
		PQfinish(r->conn);
	}
	r->conn = NULL;
}
