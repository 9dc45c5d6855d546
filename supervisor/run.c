/*
 * run: `pgcdc run`, the supervisor.  It reads the config, forks and execs a
 * sink per configured sink and a worker per slot, restarts what crashes and
 * turns signals into actions.  NOTES: it never opens libpq, ZeroMQ or LMDB,
 * so no data path can wedge it; handlers only set flags (sig.c) and waitpid
 * runs here in the loop.  Graceful stop: workers first (they wait for their
 * sinks' acks and confirm), then sinks, SIGKILL after shutdown_timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cfg.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/util.h"
#include "supervisor/child.h"
#include "supervisor/sup.h"

static struct {
	struct cfg		*cfg;
	struct child_table	 kids;
	char			 config[PATH_MAX];
	char			 bindir[PATH_MAX];
	int			 stopping;	/* 1 workers stopping, 2 sinks too */
	int64_t			 deadline;
	int			 pidfd;
	int			 killed;	/* children SIGKILLed at the shutdown timeout */
} S;

static int
lock_pidfile(const struct cfg *cfg)
{
	char path[PATH_MAX], pid[32];
	int n;

	snprintf(path, sizeof(path), "%s/pgcdc.pid", cfg->run_dir);
	if ((S.pidfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_error("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(S.pidfd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)read(S.pidfd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		log_error("pgcdc is already running on %s (pid %s); fix: `pgcdc stop -c %s` "
		    "first, or use another state_dir", cfg->state_dir,
		    strtok(pid, "\n") ? pid : "?", S.config);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(S.pidfd, 0) < 0 || pwrite(S.pidfd, pid, (size_t)n, 0) != n) {
		log_error("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* What a child's behaviour depends on, as text, to diff configs on reload. */
static void
signature(const struct cfg *cfg, enum child_kind kind, const char *name, struct buf *b)
{
	buf_reset(b);
	buf_printf(b, "%s|%s|%s|%s|%d|%ld|%d|%ld|%ld|%d|%d", cfg->conninfo,
	    cfg->password_file ? cfg->password_file : "", cfg->state_dir, cfg->run_dir,
	    (int)cfg->snapshot_mode, cfg->chunk_rows, cfg->status_interval_ms,
	    cfg->max_unacked_bytes, cfg->lmdb_map_size, cfg->shutdown_timeout,
	    cfg->rescan_interval);
	if (kind == CHILD_WORKER) {
		const struct cfg_slot *s = cfg_slot_find(cfg, name);

		buf_printf(b, "|%s|%d|%d|%d|%d|%d", s->publication, s->shards, (int)s->snapshot_mode,
		    s->via_root, s->heartbeat_interval, s->stream);
		for (size_t i = 0; i < s->ntables; i++)
			buf_printf(b, "|t:%s", s->tables[i]);
		for (size_t i = 0; i < s->nsinks; i++)
			buf_printf(b, "|s:%s", s->sinks[i]);
	} else {
		const struct cfg_sink *k = cfg_sink_find(cfg, name);

		buf_printf(b, "|%d|%s|%ld|%s|%s|%s|%s", (int)k->type, k->dir ? k->dir : "",
		    k->segment_bytes, k->conninfo ? k->conninfo : "",
		    k->endpoint ? k->endpoint : "", k->brokers ? k->brokers : "",
		    k->topic_prefix ? k->topic_prefix : "");
	}
	buf_putc(b, '\0');
}

static int
in_config(const struct cfg *cfg, const struct child *c)
{
	return c->kind == CHILD_WORKER ? cfg_slot_find(cfg, c->name) != NULL :
	    cfg_sink_find(cfg, c->name) != NULL;
}

/* Start children the config has and the table lacks (sinks before workers). */
static void
start_missing(int64_t now)
{
	for (size_t i = 0; i < S.cfg->nsinks; i++)
		if (child_find(&S.kids, CHILD_SINK, S.cfg->sinks[i].name) == NULL)
			child_spawn(&S.kids, child_add(&S.kids, CHILD_SINK,
			    S.cfg->sinks[i].name), now);
	for (size_t i = 0; i < S.cfg->nslots; i++)
		for (int k = 0; k < S.cfg->slots[i].shards; k++) {
			char name[128];

			cfg_slot_name(&S.cfg->slots[i], k, name, sizeof(name));
			if (child_find(&S.kids, CHILD_WORKER, name) == NULL)
				child_spawn(&S.kids, child_add(&S.kids, CHILD_WORKER, name), now);
		}
}

/* Apply a diff to one existing child; returns 1 if it was touched. */
static int
reload_child(struct cfg *next, struct child *c, struct buf *a, struct buf *b, int64_t now)
{
	if (!in_config(next, c)) {
		c->removed = 1;
		if (c->pid > 0)
			kill(c->pid, SIGTERM);
		return 1;
	}
	signature(S.cfg, c->kind, c->name, a);
	signature(next, c->kind, c->name, b);
	if (strcmp((char *)a->data, (char *)b->data) == 0 && c->state != CH_FAILED) {
		/* Unchanged: a worker looks for new tables (patterns), a sink
		 * for slots newly feeding it. */
		if (c->pid > 0)
			kill(c->pid, SIGHUP);
		return 0;
	}
	c->deaths[0] = 0;
	if (c->pid > 0) {
		c->restart_after_stop = 1;
		kill(c->pid, SIGTERM);
		child_set_state(c, CH_STOPPING);
	} else {
		c->backoff_ms = 1000;
		child_spawn(&S.kids, c, now);
	}
	return 1;
}

static void
reload(int64_t now)
{
	char err[8192];
	struct buf a = { 0 }, b = { 0 };
	struct cfg *next = cfg_load(S.config, err, sizeof(err));
	int touched = 0;

	if (next == NULL) {
		log_error("reload: keeping the running configuration; the new one has "
		    "errors:\n%s", err);
		return;
	}
	for (size_t i = 0; i < S.kids.n; i++)
		touched += reload_child(next, &S.kids.v[i], &a, &b, now);
	buf_free(&a);
	buf_free(&b);
	cfg_free(S.cfg);
	S.cfg = next;
	log_set_level((enum log_level)next->log_level);
	start_missing(now);
	log_info("reloaded %s: %d child(ren) restarted or stopped", S.config, touched);
}

static void
reap(int64_t now)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		child_exited(&S.kids, pid, st, now, S.stopping != 0);
	child_remove_dead(&S.kids);
}

static void
begin_stop(int64_t now, int fast)
{
	if (!S.stopping) {
		log_info("stopping: workers first, then sinks (timeout %d s)",
		    S.cfg->shutdown_timeout);
		sup_notify("STOPPING=1");
		S.stopping = 1;
		S.deadline = now + S.cfg->shutdown_timeout * 1000LL;
		child_signal_all(&S.kids, CHILD_WORKER, SIGTERM);
	}
	if (fast && S.stopping < 2) {
		S.stopping = 2;
		child_signal_all(&S.kids, -1, SIGTERM);
	}
}

static void
handle_signals(int64_t now)
{
	if (sig_take(SIGCHLD))
		reap(now);
	if (sig_take(SIGQUIT)) {
		log_info("SIGQUIT: immediate stop");
		S.stopping = 2;
		S.deadline = now;
	}
	if (sig_take(SIGTERM) | sig_take(SIGINT))
		begin_stop(now, S.stopping != 0);
	if (sig_take(SIGHUP) && !S.stopping) {
		sup_notify("RELOADING=1");
		reload(now);
		sup_notify("READY=1");
	}
	if (sig_take(SIGUSR1))
		sup_status_log(&S.kids);
	if (sig_take(SIGUSR2)) {
		log_reopen();
		child_signal_all(&S.kids, -1, SIGUSR2);
	}
}

/* Returns 1 when everything has exited. */
static int
stop_progress(int64_t now)
{
	if (S.stopping == 1 && child_live(&S.kids, CHILD_WORKER) == 0) {
		S.stopping = 2;
		child_signal_all(&S.kids, CHILD_SINK, SIGTERM);
	}
	if (now >= S.deadline && child_live(&S.kids, -1) > 0) {
		log_warn("shutdown timeout: killing what is left");
		S.killed += child_live(&S.kids, -1);
		child_signal_all(&S.kids, -1, SIGKILL);
		S.deadline = now + 60000;
	}
	return child_live(&S.kids, -1) == 0;
}

static int
setup(const char *path, int allow_root)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, 0 };
	char exe[PATH_MAX];
	ssize_t n;

	if (realpath(path, S.config) == NULL) {
		fprintf(stderr, "pgcdc: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((S.cfg = sup_load_config(S.config, stderr)) == NULL)
		return -1;
	log_set_level((enum log_level)S.cfg->log_level);
	sup_notify_init();
	if (sup_privs(S.cfg, S.config, allow_root) < 0)
		return -1;
	/* The directories first: the log file may well live in state_dir. */
	/* The lock before the log file: a second `pgcdc run` must say why on
	 * the terminal it was started from. */
	if (util_mkdir_p(S.cfg->state_dir, 0700) < 0 || util_mkdir_p(S.cfg->run_dir, 0700) < 0 ||
	    lock_pidfile(S.cfg) < 0 || log_set_file(S.cfg->log_file) < 0 || sig_setup(sigs) < 0)
		return -1;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		return -1;
	exe[n] = '\0';
	snprintf(S.bindir, sizeof(S.bindir), "%s", dirname(exe));
	S.kids.bindir = S.bindir;
	S.kids.config = S.config;
	return 0;
}

/* How the run ended, into run_dir/ended for `pgcdc stop` and the log. */
static void
write_ended(void)
{
	char file[PATH_MAX], how[128];
	FILE *f;

	snprintf(file, sizeof(file), "%s/ended", S.cfg->run_dir);
	if (S.killed)
		snprintf(how, sizeof(how), "%d child(ren) killed after shutdown_timeout (%d s)",
		    S.killed, S.cfg->shutdown_timeout);
	else
		snprintf(how, sizeof(how), "clean: every worker confirmed, every sink flushed");
	if ((f = fopen(file, "w")) != NULL) {
		fprintf(f, "%s\n", how);
		fclose(f);
	}
	log_info("stopped (%s)", how);
}

int
sup_run(const char *path, int allow_root)
{
	char status[PATH_MAX];
	int64_t now, written = 0;

	log_init("supervisor", NULL);
	if (setup(path, allow_root) < 0)
		return 2;
	snprintf(status, sizeof(status), "%s/ended", S.cfg->run_dir);
	unlink(status);		/* the last run's ending is not this one's */
	snprintf(status, sizeof(status), "%s/status", S.cfg->run_dir);
	log_info("pgcdc running (pid %d), %zu slot(s), %zu sink(s)", (int)getpid(),
	    S.cfg->nslots, S.cfg->nsinks);
	start_missing(util_now_ms());
	sup_status_write(&S.kids, status);	/* never show the last run's states */
	if (sup_metrics_start(S.config, S.cfg->metrics) < 0)
		log_warn("running without metrics");
	sup_notify("READY=1");
	for (;;) {
		struct pollfd p = { .fd = sig_fd(), .events = POLLIN };
		int timeout = child_tick(&S.kids, util_now_ms(), S.stopping);

		if (poll(&p, 1, timeout > 1000 ? 1000 : timeout) < 0 && errno != EINTR)
			break;
		now = util_now_ms();
		handle_signals(now);
		if (S.stopping && stop_progress(now))
			break;
		if (now - written >= 1000) {
			sup_status_write(&S.kids, status);
			written = now;
		}
	}
	sup_status_write(&S.kids, status);
	sup_metrics_stop();
	write_ended();
	return 0;
}
