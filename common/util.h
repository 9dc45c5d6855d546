/*
 * util: small filesystem and time helpers shared by every process.
 */
#ifndef PGCDC_UTIL_H
#define PGCDC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdir -p with the final directory at `mode` (created dirs 0700 unless
 * mode says otherwise).  An existing directory is chmod'ed to mode.  0 / -1. */
int util_mkdir_p(const char *path, int mode);
/* fsync a directory so that entries created in it survive a crash. */
int util_fsync_dir(const char *path);
/* Monotonic milliseconds. */
int64_t util_now_ms(void);
/* Wall clock milliseconds since the Unix epoch. */
int64_t util_wall_ms(void);
/* Read a whole small file (secrets, pidfiles) into buf, trailing newline
 * stripped.  Returns length or -1. */
long util_read_file(const char *path, char *buf, size_t len);

#endif
