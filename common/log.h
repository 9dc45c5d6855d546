/*
 * log: leveled logging for every pgcdc process, to stderr or a file.
 * Each line carries time, role, the slot or sink name and the pid.  Secrets
 * never pass through here: conninfo strings go through log_redact() first.
 * log_reopen() is safe to call from the main loop after SIGUSR2 (logrotate).
 */
#ifndef PGCDC_LOG_H
#define PGCDC_LOG_H

#include <stddef.h>

enum log_level { LL_ERROR = 0, LL_WARN, LL_INFO, LL_DEBUG };

/* role: "supervisor", "worker", "sink", "pgcdc"; ident: slot/sink name or NULL. */
void log_init(const char *role, const char *ident);
void log_set_level(enum log_level level);
/* Parse "error" | "warn" | "info" | "debug"; -1 if unknown. */
int log_level_parse(const char *s);
/* "" or NULL = stderr.  Opens O_APPEND, 0600.  Returns 0 / -1. */
int log_set_file(const char *path);
/* Reopen the current log file (after rotation).  Returns 0 / -1. */
int log_reopen(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Log at LL_ERROR and exit with `code`. */
/* The text of the last error logged by this process ("" if none). */
const char *log_last_error(void);
void fatal(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LL_DEBUG, __VA_ARGS__)

/*
 * Copy a libpq conninfo (keyword=value form or postgresql:// URI) into buf
 * with every password value replaced by "***".  Always NUL-terminates;
 * returns buf.
 */
char *log_redact(const char *conninfo, char *buf, size_t len);

#endif
