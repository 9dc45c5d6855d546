/*
 * pgcdc: the command users type.  `run` is the supervisor; the other
 * commands talk to it through run_dir or read the state in LMDB.
 */
#include <stdio.h>
#include <string.h>

#include "common/secure.h"
#include "supervisor/sup.h"

static int
usage(void)
{
	fprintf(stderr,
	    "usage: pgcdc run    -c CONFIG [--allow-root]  supervise workers and sinks (foreground)\n"
	    "       pgcdc status -c CONFIG [--json]\n"
	    "       pgcdc reload -c CONFIG      re-read the config (= kill -HUP)\n"
	    "       pgcdc stop   -c CONFIG      graceful stop, waits for exit\n"
	    "       pgcdc check  -c CONFIG      preflight of config and source\n"
	    "       pgcdc watch  -c CONFIG SCHEMA.TABLE  live view of the table's rows\n"
	    "       pgcdc keygen FILE           CURVE keypair: FILE (secret), FILE.pub or NAME.pub for NAME.key\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *cmd, *config = NULL;
	int json = 0, allow_root = 0;

	if (argc < 2)
		return usage();
	if (secure_process() < 0)
		return 2;
	cmd = argv[1];
	if (strcmp(cmd, "watch") == 0)
		return sup_watch(argc - 2, argv + 2);
	if (strcmp(cmd, "keygen") == 0)
		return argc == 3 ? sup_keygen(argv[2]) : usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--allow-root") == 0)
			allow_root = 1;
		else
			return usage();
	}
	if (config == NULL)
		return usage();
	if (strcmp(cmd, "run") == 0)
		return sup_run(config, allow_root);
	if (strcmp(cmd, "status") == 0)
		return sup_status(config, json);
	if (strcmp(cmd, "reload") == 0)
		return sup_reload(config);
	if (strcmp(cmd, "stop") == 0)
		return sup_stop(config);
	if (strcmp(cmd, "check") == 0)
		return sup_check(config);
	return usage();
}
