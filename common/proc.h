/*
 * proc: the common start of a child process (pgcdc-worker, pgcdc-sink):
 * arguments "-c FILE NAME", config, logging for role and name, signals, and
 * exit when the supervisor dies.  The supervisor passes its pid in
 * PGCDC_SUPERVISOR_PID; run by hand without it, the child stands alone.
 */
#ifndef PGCDC_PROC_H
#define PGCDC_PROC_H

#include "common/cfg.h"

/* Exit codes of children (DESIGN.md section 1). */
#define PROC_EXIT_STOP	0	/* asked to stop */
#define PROC_EXIT_RETRY	1	/* retryable: restart with backoff */
#define PROC_EXIT_FATAL	2	/* configuration or slot error: do not respawn */
#define PROC_EXIT_AGAIN	3	/* start me again now (e.g. my tables changed): not a crash */

/* Returns the loaded config; *name is argv's NAME.  Exits 2 on bad usage. */
struct cfg *proc_child_init(int argc, char **argv, const char *role, const char **name);
/* The main loop is over: whatever teardown follows (libpq, ZeroMQ, LMDB)
 * gets PROC_TEARDOWN_S seconds, then SIGALRM ends the process, so an orphan
 * can never hang on a library's shutdown.  Everything durable is already. */
#define PROC_TEARDOWN_S	5
void proc_teardown_deadline(void);

#endif
