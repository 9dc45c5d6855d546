/*
 * lsn: parse and format WAL positions in PostgreSQL's "hi/lo" hex form.
 */
#include <stdio.h>
#include <string.h>

#include "common/lsn.h"

static int
parse_hex32(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 8)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = (v << 4) | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int
lsn_parse(const char *s, lsn_t *out)
{
	const char *slash;
	uint32_t hi, lo;

	if (s == NULL || (slash = strchr(s, '/')) == NULL)
		return -1;
	if (parse_hex32(s, (size_t)(slash - s), &hi) < 0 ||
	    parse_hex32(slash + 1, strlen(slash + 1), &lo) < 0)
		return -1;
	*out = ((lsn_t)hi << 32) | lo;
	return 0;
}

char *
lsn_format(lsn_t lsn, char *buf)
{
	snprintf(buf, LSN_BUFLEN, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
	return buf;
}
