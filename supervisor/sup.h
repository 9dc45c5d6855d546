/*
 * sup: the commands of `pgcdc` (run, status, stop, reload, check) and the
 * status file the running supervisor keeps in run_dir for `pgcdc status`.
 */
#ifndef PGCDC_SUP_H
#define PGCDC_SUP_H

#include <stdio.h>
#include <sys/types.h>

#include "common/cfg.h"
#include "supervisor/child.h"

int sup_run(const char *config);
int sup_status(const char *config, int json);
int sup_stop(const char *config);
int sup_reload(const char *config);
int sup_check(const char *config);
/* `pgcdc watch -c CONFIG schema.table` (its own arguments, after "watch"). */
int sup_watch(int argc, char **argv);

/* Atomically replace path with one line per child. */
void sup_status_write(const struct child_table *t, const char *path);
/* The same table into the log (SIGUSR1). */
void sup_status_log(const struct child_table *t);
/* Load the config; on errors print them (one per line) to out, NULL. */
struct cfg *sup_load_config(const char *path, FILE *out);
/* pid of the running supervisor for this config's run_dir, or 0 if none. */
pid_t sup_running_pid(const char *run_dir);

#endif
