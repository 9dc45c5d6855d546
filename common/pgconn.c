/*
 * pgconn: source connections with pinned session settings and the secret
 * kept out of everything printable.  The password read from password_file is
 * wiped from memory as soon as libpq has it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "common/util.h"

#define PGCONN_OPTIONS "-c datestyle=ISO -c intervalstyle=postgres " \
	"-c extra_float_digits=3 -c TimeZone=UTC -c bytea_output=hex"

/* The last connection failure, cause and fix, for `pgcdc check`. */
static char last_error[4096];

const char *
pgconn_last_error(void)
{
	return last_error;
}

static int
read_password(const char *path, char *pw, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		snprintf(last_error, sizeof(last_error), "source.password_file %s: %s; "
		    "fix: create it with the password (mode 0600) or remove the setting",
		    path, strerror(errno));
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		snprintf(last_error, sizeof(last_error), "source.password_file %s is "
		    "accessible by group or others (mode %04o); fix: chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
	else if (util_read_file(path, pw, len) < 0)
		snprintf(last_error, sizeof(last_error), "source.password_file %s: "
		    "cannot read: %s; fix: let pgcdc's user read it", path, strerror(errno));
	else
		return 0;
	log_error("%s", last_error);
	return -1;
}

/* Errors that a retry will not fix, with the operator's fix. */
static const char *
fatal_hint(const char *msg)
{
	if (strstr(msg, "password authentication failed") ||
	    strstr(msg, "no password supplied"))
		return "check source.password_file or ~/.pgpass for this role";
	if (strstr(msg, "does not exist"))
		return "check dbname and user in source.conninfo";
	if (strstr(msg, "no pg_hba.conf entry"))
		return "allow this host and role in the server's pg_hba.conf "
		    "(a replication entry is needed for the replication connection)";
	if (strstr(msg, "certificate verify failed") || strstr(msg, "does not match host name") ||
	    strstr(msg, "root certificate file"))
		return "set sslrootcert in source.conninfo to the CA that signed the server's "
		    "certificate, and host to a name the certificate carries";
	if (strstr(msg, "server does not support SSL"))
		return "turn ssl on in the server, or lower sslmode in source.conninfo";
	if (strstr(msg, "must be superuser or replication role") ||
	    strstr(msg, "permission denied to start WAL sender"))
		return "ALTER ROLE <user> REPLICATION";
	return NULL;
}

PGconn *
pgconn_open(const char *conninfo, const char *password_file, int replication,
    const char *appname, enum pgconn_err *err)
{
	const char *keys[7], *vals[7];
	char pw[1024] = "", safe[1024];
	const char *hint;
	PGconn *c;
	int n = 0;

	*err = PGCONN_FATAL;
	if (password_file && *password_file && read_password(password_file, pw, sizeof(pw)) < 0)
		return NULL;
	/* Before dbname: a connect_timeout in conninfo wins. */
	keys[n] = "connect_timeout"; vals[n++] = "10";
	keys[n] = "dbname"; vals[n++] = conninfo;
	keys[n] = "options"; vals[n++] = PGCONN_OPTIONS;
	keys[n] = "application_name"; vals[n++] = appname;
	if (replication) { keys[n] = "replication"; vals[n++] = "database"; }
	if (pw[0]) { keys[n] = "password"; vals[n++] = pw; }
	keys[n] = NULL; vals[n] = NULL;
	c = PQconnectdbParams(keys, vals, 1);
	explicit_bzero(pw, sizeof(pw));
	if (c != NULL && PQstatus(c) == CONNECTION_OK)
		return c;
	log_redact(conninfo, safe, sizeof(safe));
	if (c == NULL) {
		snprintf(last_error, sizeof(last_error), "connect to source: out of memory");
		log_error("%s", last_error);
		*err = PGCONN_RETRY;
		return NULL;
	}
	hint = fatal_hint(PQerrorMessage(c));
	snprintf(last_error, sizeof(last_error), "connect to source (%s)%s: %s%s%s", safe,
	    replication ? " for replication" : "", strtok(PQerrorMessage(c), "\n"),
	    hint ? "; fix: " : "", hint ? hint : "");
	log_error("%s", last_error);
	*err = hint ? PGCONN_FATAL : PGCONN_RETRY;
	PQfinish(c);
	return NULL;
}

int
pgconn_exec(PGconn *c, const char *sql, ExecStatusType expect)
{
	PGresult *r = PQexec(c, sql);
	int rc = 0;

	if (PQresultStatus(r) != expect) {
		log_error("%s: %s", sql, strtok(PQerrorMessage(c), "\n"));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int
pgconn_quote_qualified(PGconn *c, const char *name, char *out, size_t len)
{
	const char *dot = strchr(name, '.');
	char schema[128];
	char *qs, *qt;
	int n;

	if (dot == NULL || (size_t)(dot - name) >= sizeof(schema))
		return -1;
	memcpy(schema, name, (size_t)(dot - name));
	schema[dot - name] = '\0';
	qs = PQescapeIdentifier(c, schema, strlen(schema));
	qt = PQescapeIdentifier(c, dot + 1, strlen(dot + 1));
	n = (qs && qt) ? snprintf(out, len, "%s.%s", qs, qt) : -1;
	PQfreemem(qs);
	PQfreemem(qt);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}
