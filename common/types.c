/*
 * types: a sorted array of the oids described as array types, searched by
 * bisection (json_value asks once per value of a non-built-in type).
 * Invariant: arrays[0..n) is strictly increasing.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/types.h"

static uint32_t	*arrays;
static size_t	 n, cap;

/* Index of the first entry >= oid. */
static size_t
lower_bound(uint32_t oid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (arrays[mid] < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
types_is_array(uint32_t oid)
{
	size_t i = lower_bound(oid);

	return i < n && arrays[i] == oid;
}

static void
add(size_t at, uint32_t oid)
{
	if (n == cap) {
		uint32_t *p = realloc(arrays, (cap ? 2 * cap : 64) * sizeof(*p));

		if (p == NULL)
			fatal(1, "%s: out of memory", __func__);
		arrays = p;
		cap = cap ? 2 * cap : 64;
	}
	memmove(arrays + at + 1, arrays + at, (n - at) * sizeof(*arrays));
	arrays[at] = oid;
	n++;
}

void
types_put(uint32_t oid, const char *nspname, const char *typname)
{
	size_t i = lower_bound(oid);
	bool known = i < n && arrays[i] == oid;
	bool array = typname != NULL && typname[0] == '_' &&
	    (nspname == NULL || strcmp(nspname, "pg_catalog") != 0);

	if (array && !known)
		add(i, oid);
	else if (!array && known) {	/* the oid was dropped and reused */
		memmove(arrays + i, arrays + i + 1, (n - i - 1) * sizeof(*arrays));
		n--;
	}
}

void
types_reset(void)
{
	free(arrays);
	arrays = NULL;
	n = cap = 0;
}
