/*
 * sig: signals turned into poll()able events.  Handlers only set a
 * sig_atomic_t flag and write one byte to a self-pipe (STYLE.md habit 4);
 * the main loop polls sig_fd() and calls sig_take() to read what arrived.
 */
#ifndef PGCDC_SIG_H
#define PGCDC_SIG_H

/* Install handlers for the listed signals (0-terminated) and SIGCHLD.
 * SIGPIPE is ignored.  Returns 0 / -1. */
int sig_setup(const int *signals);
/* Read end of the self-pipe (non-blocking), for poll(). */
int sig_fd(void);
/* Drain the pipe; return whether signo arrived since the last take and clear it. */
int sig_take(int signo);
/* Make this process exit when its parent dies (PR_SET_PDEATHSIG=SIGQUIT)
 * and exit at once if the parent is already gone (ppid != expected). */
void sig_die_with_parent(int expected_ppid);

#endif
