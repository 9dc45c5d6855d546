/*
 * secure: process hardening shared by the supervisor, the commands and the
 * children.  Runs again after every exec (dumpable resets to 1 on exec).
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/secure.h"

int
secure_process(void)
{
	umask(077);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_error("%s: prctl(PR_SET_DUMPABLE): %s", __func__, strerror(errno));
		return -1;
	}
	return 0;
}
