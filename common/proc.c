/*
 * proc: child process bootstrap shared by worker and sink.  Everything here
 * runs after exec, so no LMDB or ZeroMQ state crosses a fork.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "common/secure.h"
#include "common/sig.h"

struct cfg *
proc_child_init(int argc, char **argv, const char *role, const char **name)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, 0 };
	const char *sup = getenv("PGCDC_SUPERVISOR_PID");
	char err[4096];
	struct cfg *cfg;

	log_init(role, NULL);
	if (secure_process() < 0)
		exit(PROC_EXIT_FATAL);
	if (argc != 4 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: %s -c CONFIG NAME\n", argv[0]);
		exit(PROC_EXIT_FATAL);
	}
	*name = argv[3];
	log_init(role, *name);
	if (sup != NULL)
		sig_die_with_parent(atoi(sup));
	if ((cfg = cfg_load(argv[2], err, sizeof(err))) == NULL)
		fatal(PROC_EXIT_FATAL, "bad config:\n%s", err);
	log_set_level((enum log_level)cfg->log_level);
	if (log_set_file(cfg->log_file) < 0)
		exit(PROC_EXIT_FATAL);
	if (sig_setup(sigs) < 0)
		exit(PROC_EXIT_RETRY);
	return cfg;
}

void
proc_teardown_deadline(void)
{
	signal(SIGALRM, SIG_DFL);
	alarm(PROC_TEARDOWN_S);
}
