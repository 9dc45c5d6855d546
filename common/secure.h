/*
 * secure: what every pgcdc process does first.  Files it creates are private
 * (umask 077), and it cannot be core-dumped or ptrace-attached by its own
 * uid: libpq keeps the source password in its heap for the connection's life.
 */
#ifndef PGCDC_SECURE_H
#define PGCDC_SECURE_H

/* umask 077 and PR_SET_DUMPABLE 0 (also hides /proc/<pid>/environ and mem
 * from other processes of the same user).  0 / -1 (logged). */
int secure_process(void);

#endif
