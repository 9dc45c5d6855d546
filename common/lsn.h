/*
 * lsn: PostgreSQL WAL positions as uint64, in the server's "X/X" text form.
 * Transactions are ordered by their commit end_lsn (DESIGN.md section 4).
 */
#ifndef PGCDC_LSN_H
#define PGCDC_LSN_H

#include <stdint.h>

typedef uint64_t lsn_t;

#define LSN_INVALID ((lsn_t)0)
#define LSN_BUFLEN 18		/* "FFFFFFFF/FFFFFFFF" + NUL */

/* Parse "16/B374D848".  Returns 0, or -1 on anything else (no trailing junk). */
int lsn_parse(const char *s, lsn_t *out);
/* Format into buf (LSN_BUFLEN bytes); returns buf. */
char *lsn_format(lsn_t lsn, char *buf);
static inline int lsn_cmp(lsn_t a, lsn_t b) { return a < b ? -1 : a > b; }

#endif
