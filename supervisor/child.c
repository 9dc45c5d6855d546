/*
 * child: spawning, reaping bookkeeping and restart policy.  Nothing here runs
 * in signal context: SIGCHLD only wakes the loop, which calls waitpid and
 * then child_exited().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "supervisor/child.h"

#define BACKOFF_MIN_MS	1000
#define BACKOFF_MAX_MS	60000
#define HEALTHY_MS	(5 * 60 * 1000)
#define RUNNING_AFTER_MS 2000
#define CRASH_LIMIT	5

static const char *const state_names[] = {
	"STARTING", "RUNNING", "STOPPING", "BACKOFF", "FAILED", "DONE"
};

const char *
child_state_name(enum child_state s)
{
	return state_names[s];
}

void
child_set_state(struct child *c, enum child_state s)
{
	if (c->state != s)
		log_info("%s %s: %s -> %s", c->kind == CHILD_WORKER ? "slot" : "sink",
		    c->name, state_names[c->state], state_names[s]);
	c->state = s;
}

struct child *
child_find(struct child_table *t, enum child_kind kind, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

struct child *
child_add(struct child_table *t, enum child_kind kind, const char *name)
{
	struct child *c;

	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		if ((t->v = realloc(t->v, t->cap * sizeof(*t->v))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	c = &t->v[t->n++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->state = CH_DONE;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->backoff_ms = BACKOFF_MIN_MS;
	return c;
}

void
child_remove_dead(struct child_table *t)
{
	size_t keep = 0;

	for (size_t i = 0; i < t->n; i++)
		if (!(t->v[i].removed && t->v[i].pid == 0))
			t->v[keep++] = t->v[i];
	t->n = keep;
}

int
child_spawn(struct child_table *t, struct child *c, int64_t now_ms)
{
	char path[4096], ppid[32];
	const char *bin = c->kind == CHILD_WORKER ? "pgcdc-worker" : "pgcdc-sink";
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", t->bindir, bin);
	snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
	if ((pid = fork()) < 0) {
		log_error("fork %s: %s", bin, strerror(errno));
		c->next_start_ms = now_ms + c->backoff_ms;
		child_set_state(c, CH_BACKOFF);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setenv("PGCDC_SUPERVISOR_PID", ppid, 1);
		execl(path, bin, "-c", t->config, c->name, (char *)NULL);
		fprintf(stderr, "pgcdc: exec %s: %s\n", path, strerror(errno));
		_exit(PROC_EXIT_FATAL);
	}
	c->pid = pid;
	c->started_ms = now_ms;
	log_info("started %s %s (pid %d)", bin, c->name, (int)pid);
	child_set_state(c, CH_STARTING);
	return 0;
}

/* Deaths within the window, including this one. */
static int
recent_deaths(struct child *c, int64_t now_ms)
{
	int n = 0;

	memmove(c->deaths + 1, c->deaths, (CHILD_CRASH_WINDOW - 1) * sizeof(c->deaths[0]));
	c->deaths[0] = now_ms;
	for (int i = 0; i < CHILD_CRASH_WINDOW; i++)
		if (c->deaths[i] && now_ms - c->deaths[i] <= HEALTHY_MS)
			n++;
	return n;
}

static void
describe_exit(const struct child *c, int status)
{
	if (WIFSIGNALED(status))
		log_warn("%s %s (pid %d) killed by signal %d", c->kind == CHILD_WORKER ?
		    "worker" : "sink", c->name, (int)c->pid, WTERMSIG(status));
	else
		log_info("%s %s (pid %d) exited with %d", c->kind == CHILD_WORKER ?
		    "worker" : "sink", c->name, (int)c->pid, WEXITSTATUS(status));
}

void
child_exited(struct child_table *t, pid_t pid, int status, int64_t now_ms, int stopping)
{
	struct child *c = NULL;

	for (size_t i = 0; i < t->n && c == NULL; i++)
		if (t->v[i].pid == pid)
			c = &t->v[i];
	if (c == NULL)
		return;
	describe_exit(c, status);
	c->pid = 0;
	c->last_status = status;
	if (stopping || c->removed) {
		child_set_state(c, CH_DONE);
		return;
	}
	if (c->restart_after_stop) {
		c->restart_after_stop = 0;
		c->backoff_ms = BACKOFF_MIN_MS;
		child_spawn(t, c, now_ms);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_STOP) {
		child_set_state(c, CH_DONE);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_AGAIN) {
		c->backoff_ms = BACKOFF_MIN_MS;
		child_spawn(t, c, now_ms);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == PROC_EXIT_FATAL) {
		log_error("%s %s failed (fatal error, see above); not restarting until "
		    "reload", c->kind == CHILD_WORKER ? "slot" : "sink", c->name);
		child_set_state(c, CH_FAILED);
		return;
	}
	if (now_ms - c->started_ms >= HEALTHY_MS)
		c->backoff_ms = BACKOFF_MIN_MS;
	if (recent_deaths(c, now_ms) > CRASH_LIMIT) {
		log_error("%s %s died more than %d times in 5 minutes; not restarting "
		    "until reload", c->kind == CHILD_WORKER ? "slot" : "sink", c->name,
		    CRASH_LIMIT);
		child_set_state(c, CH_FAILED);
		return;
	}
	c->restarts++;
	c->next_start_ms = now_ms + c->backoff_ms;
	log_info("restarting %s in %d ms", c->name, c->backoff_ms);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	child_set_state(c, CH_BACKOFF);
}

int
child_tick(struct child_table *t, int64_t now_ms, int stopping)
{
	int64_t next = 1000;

	for (size_t i = 0; i < t->n; i++) {
		struct child *c = &t->v[i];

		if (c->state == CH_STARTING && now_ms - c->started_ms >= RUNNING_AFTER_MS)
			child_set_state(c, CH_RUNNING);
		if (c->state == CH_BACKOFF && !stopping) {
			if (now_ms >= c->next_start_ms)
				child_spawn(t, c, now_ms);
			else if (c->next_start_ms - now_ms < next)
				next = c->next_start_ms - now_ms;
		}
	}
	return (int)next;
}

void
child_signal_all(struct child_table *t, int kind, int sig)
{
	for (size_t i = 0; i < t->n; i++) {
		struct child *c = &t->v[i];

		if (c->pid > 0 && (kind < 0 || (int)c->kind == kind)) {
			kill(c->pid, sig);
			if (sig == SIGTERM)
				child_set_state(c, CH_STOPPING);
		}
	}
}

size_t
child_live(const struct child_table *t, int kind)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].pid > 0 && (kind < 0 || (int)t->v[i].kind == kind))
			n++;
	return n;
}
