/*
 * sup: the commands of `pgcdc` (run, status, stop, reload, check) and the
 * status file the running supervisor keeps in run_dir for `pgcdc status`.
 */
#ifndef PGCDC_SUP_H
#define PGCDC_SUP_H

#include <stdio.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "common/cfg.h"
#include "supervisor/child.h"

/* allow_root: --allow-root was given. */
int sup_run(const char *config, int allow_root);
/* As root: refuse unless allowed, or drop to cfg->user after handing it
 * state_dir, run_dir and the log file (privs.c).  0 / -1 (logged). */
int sup_privs(const struct cfg *cfg, const char *config, int allow_root);
/* systemd notification (notify.c): init reads and unsets NOTIFY_SOCKET;
 * sup_notify sends one message ("READY=1", ...); both no-ops without it. */
void sup_notify_init(void);
void sup_notify(const char *msg);
int sup_status(const char *config, int json);
int sup_stop(const char *config);
int sup_reload(const char *config);
int sup_check(const char *config);
/* `pgcdc keygen FILE`: a CURVE keypair in FILE (secret) and FILE.pub
 * (NAME.key: NAME.pub), 0600.  Exit code. */
int sup_keygen(const char *file);
/* `pgcdc watch -c CONFIG schema.table` (its own arguments, after "watch"). */
int sup_watch(int argc, char **argv);
/* Serve Prometheus metrics at listen ("HOST:PORT", IPv4; NULL or "" = off)
 * from a thread of libmicrohttpd.  0 / -1 (logged). */
int sup_metrics_start(const char *config, const char *listen);
void sup_metrics_stop(void);
/* The metrics text, read like `pgcdc status` reads. */
int sup_metrics_write(FILE *out, const char *config);

/* For status and metrics: a child's line of the supervisor's status file
 * (state STOPPED when pgcdc does not run, UNKNOWN if not listed), and the
 * source's pg_replication_slots (slot_name, active, lag bytes, retained
 * bytes, wal_status, current LSN; NULL with why if unreachable). */
struct sup_row { char kind[8], name[64], state[16]; int pid, restarts, code; };
void sup_child_row(const struct cfg *cfg, pid_t sup, const char *kind, const char *name,
    struct sup_row *r);
PGresult *sup_server_slots(const struct cfg *cfg, char *why, size_t len);

/* Atomically replace path with one line per child. */
void sup_status_write(const struct child_table *t, const char *path);
/* The same table into the log (SIGUSR1). */
void sup_status_log(const struct child_table *t);
/* Load the config; on errors print them (one per line) to out, NULL. */
struct cfg *sup_load_config(const char *path, FILE *out);
/* pid of the running supervisor for this config's run_dir, or 0 if none. */
pid_t sup_running_pid(const char *run_dir);

#endif
