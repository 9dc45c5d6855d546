/*
 * child: the supervisor's table of child processes and their state machine
 * (s6-style): STARTING -> RUNNING -> STOPPING -> gone, or BACKOFF after a
 * crash (1 s doubling to 60 s, reset after 5 healthy minutes), FAILED after
 * exit code 2 or more than 5 deaths in 5 minutes.  Every transition is logged.
 */
#ifndef PGCDC_CHILD_H
#define PGCDC_CHILD_H

#include <stdint.h>
#include <sys/types.h>

enum child_kind { CHILD_WORKER, CHILD_SINK };
enum child_state { CH_STARTING, CH_RUNNING, CH_STOPPING, CH_BACKOFF, CH_FAILED, CH_DONE };

#define CHILD_CRASH_WINDOW 6	/* remembered death times */

struct child {
	enum child_kind	 kind;
	char		 name[64];
	pid_t		 pid;		/* 0 when not running */
	enum child_state state;
	int64_t		 started_ms;
	int64_t		 next_start_ms;	/* BACKOFF: when to respawn */
	int		 backoff_ms;
	int64_t		 deaths[CHILD_CRASH_WINDOW];
	int		 restarts;
	int		 last_status;	/* waitpid status of the last exit */
	int		 restart_after_stop; /* reload: respawn once it exited */
	int		 removed;	/* reload: drop once it exited */
};

struct child_table {
	struct child	*v;
	size_t		 n, cap;
	const char	*bindir;	/* where pgcdc-worker and pgcdc-sink live */
	const char	*config;	/* path passed to children */
};

const char *child_state_name(enum child_state s);
struct child *child_add(struct child_table *t, enum child_kind kind, const char *name);
struct child *child_find(struct child_table *t, enum child_kind kind, const char *name);
void child_remove_dead(struct child_table *t);
/* fork + exec; the child learns our pid from PGCDC_SUPERVISOR_PID. */
int child_spawn(struct child_table *t, struct child *c, int64_t now_ms);
/* Record an exit reported by waitpid; decides BACKOFF / FAILED / DONE. */
void child_exited(struct child_table *t, pid_t pid, int status, int64_t now_ms,
    int stopping);
/* Respawn children whose backoff expired; promote STARTING to RUNNING.
 * Returns ms until the next timer (or 1000). */
int child_tick(struct child_table *t, int64_t now_ms, int stopping);
/* Send sig to every live child of kind (or both kinds when kind < 0). */
void child_signal_all(struct child_table *t, int kind, int sig);
/* Live children of kind (or all when kind < 0). */
size_t child_live(const struct child_table *t, int kind);
void child_set_state(struct child *c, enum child_state s);

#endif
