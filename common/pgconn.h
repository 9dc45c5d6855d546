/*
 * pgconn: open libpq connections to the source with pgcdc's fixed session
 * settings (DESIGN.md section 6: datestyle, intervalstyle, float digits,
 * TimeZone) and the password from password_file, which is passed as a
 * connection parameter and never appears in argv, logs or errors.
 */
#ifndef PGCDC_PGCONN_H
#define PGCDC_PGCONN_H

#include <libpq-fe.h>

enum pgconn_err { PGCONN_OK = 0, PGCONN_RETRY = 1, PGCONN_FATAL = 2 };

/*
 * Connect.  replication: 0 = plain SQL, 1 = replication=database.
 * On failure returns NULL, logs the cause with a fix, and sets *err to
 * PGCONN_FATAL when retrying cannot help (bad password, unknown database or
 * role, unreadable password_file), PGCONN_RETRY otherwise.
 */
PGconn *pgconn_open(const char *conninfo, const char *password_file,
    int replication, const char *appname, enum pgconn_err *err);

/* Cause and fix of the last failed pgconn_open, "" if none. */
const char *pgconn_last_error(void);

/* Run a command expecting `expect` status; logs the error.  0 / -1. */
int pgconn_exec(PGconn *c, const char *sql, ExecStatusType expect);

/* Quote "schema.table" (or an identifier) for SQL into out.  0 / -1. */
int pgconn_quote_qualified(PGconn *c, const char *name, char *out, size_t len);

#endif
