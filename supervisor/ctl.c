/*
 * ctl: `pgcdc stop` and `pgcdc reload`, which signal the supervisor found
 * through its locked pidfile.  A pidfile whose lock is free is stale.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/util.h"
#include "supervisor/sup.h"

pid_t
sup_running_pid(const char *run_dir)
{
	char path[PATH_MAX], buf[32];
	pid_t pid = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/pgcdc.pid", run_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK &&
	    util_read_file(path, buf, sizeof(buf)) > 0)
		pid = (pid_t)atoi(buf);
	close(fd);
	return pid;
}

struct cfg *
sup_load_config(const char *path, FILE *out)
{
	char err[8192];
	struct cfg *cfg = cfg_load(path, err, sizeof(err));

	if (cfg == NULL)
		fprintf(out, "%s\n", err);
	return cfg;
}

int
sup_reload(const char *config)
{
	struct cfg *cfg = sup_load_config(config, stderr);
	pid_t pid;

	if (cfg == NULL)
		return 2;
	pid = sup_running_pid(cfg->run_dir);
	cfg_free(cfg);
	if (pid <= 0 || kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "pgcdc: not running\n");
		return 1;
	}
	printf("pgcdc: reload sent to pid %d\n", (int)pid);
	return 0;
}

int
sup_stop(const char *config)
{
	struct cfg *cfg = sup_load_config(config, stderr);
	char run_dir[PATH_MAX];
	int64_t deadline;
	pid_t pid;

	if (cfg == NULL)
		return 2;
	snprintf(run_dir, sizeof(run_dir), "%s", cfg->run_dir);
	deadline = util_now_ms() + (cfg->shutdown_timeout + 10) * 1000LL;
	cfg_free(cfg);
	if ((pid = sup_running_pid(run_dir)) <= 0 || kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "pgcdc: not running\n");
		return 1;
	}
	while (sup_running_pid(run_dir) == pid) {
		if (util_now_ms() > deadline) {
			fprintf(stderr, "pgcdc: pid %d did not stop in time\n", (int)pid);
			return 1;
		}
		usleep(50 * 1000);
	}
	{
		char path[PATH_MAX + 8], how[160] = "";
		FILE *f;

		snprintf(path, sizeof(path), "%s/ended", run_dir);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(how, sizeof(how), f) == NULL)
				how[0] = '\0';
			fclose(f);
		}
		how[strcspn(how, "\n")] = '\0';
		printf("pgcdc: stopped (pid %d)%s%s\n", (int)pid, how[0] ? ": " : "", how);
		return strncmp(how, "clean", 5) == 0 || how[0] == '\0' ? 0 : 1;
	}
}
