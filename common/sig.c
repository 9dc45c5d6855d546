/*
 * sig: self-pipe signal delivery.  A handler sets its signal's flag, then
 * writes one byte to the pipe (errno saved and restored); sig_take() drains
 * the pipe before testing a flag, so a signal that arrives meanwhile leaves a
 * byte behind and wakes the next poll.  Handlers use SA_RESTART: poll() and
 * zmq_poll() still return EINTR (and the pipe wakes them anyway), while a
 * blocking write or libpq call is simply resumed and its caller sees the flag
 * when it returns to the loop.  SIGCHLD adds SA_NOCLDSTOP (only exits matter).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sig.h"

static int pipefd[2] = { -1, -1 };
static volatile sig_atomic_t arrived[NSIG];
static volatile sig_atomic_t unread;	/* bytes may be in the pipe */

static void
on_signal(int signo)
{
	int saved = errno;
	char c = 0;

	if (signo > 0 && signo < NSIG)
		arrived[signo] = 1;
	unread = 1;
	/* A full pipe already guarantees a wakeup; the result does not matter. */
	if (write(pipefd[1], &c, 1) < 0) {
	}
	errno = saved;
}

static int
install(int signo)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
	if (signo <= 0 || signo >= NSIG || sigaction(signo, &sa, NULL) < 0) {
		log_error("%s: sigaction %d: %s", "sig_setup", signo, strerror(errno));
		return -1;
	}
	return 0;
}

int
sig_setup(const int *signals)
{
	struct sigaction ign;

	if (pipefd[0] < 0 && pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("%s: pipe: %s", __func__, strerror(errno));
		return -1;
	}
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, NULL) < 0) {
		log_error("%s: ignore SIGPIPE: %s", __func__, strerror(errno));
		return -1;
	}
	for (; signals && *signals; signals++)
		if (install(*signals) < 0)
			return -1;
	return install(SIGCHLD);
}

int
sig_fd(void)
{
	return pipefd[0];
}

int
sig_take(int signo)
{
	char drain[64];

	/* Only touch the pipe after a handler ran: the loops call this several
	 * times a turn, and a read(2) each time shows on the hot path. */
	if (unread && pipefd[0] >= 0) {
		unread = 0;
		while (read(pipefd[0], drain, sizeof(drain)) > 0)
			;
	}
	if (signo <= 0 || signo >= NSIG || !arrived[signo])
		return 0;
	arrived[signo] = 0;
	return 1;
}

void
sig_die_with_parent(int expected_ppid)
{
	/* SIGQUIT: stop at once, no drain.  The acks a drain waits for come
	 * from sinks that are orphans too; what is durable is recorded, and
	 * the next run replays the rest. */
	if (prctl(PR_SET_PDEATHSIG, SIGQUIT) < 0)
		log_warn("%s: prctl(PR_SET_PDEATHSIG): %s", __func__, strerror(errno));
	/* The parent may have died before prctl: then we were reparented. */
	if (expected_ppid > 0 && getppid() != (pid_t)expected_ppid) {
		log_info("parent %d is gone, exiting", expected_ppid);
		exit(0);
	}
}
