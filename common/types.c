/*
 * types: a sorted array of the oids described as array types, searched by
 * bisection (json_value asks once per value of a non-built-in type), and a
 * sorted array of every described oid with its names.
 * Invariant: arrays[0..n) and names[0..nnames) are strictly increasing.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/types.h"

static uint32_t	*arrays;
static size_t	 n, cap;

struct tname {
	uint32_t	 oid;		/* first: bound() reads it */
	char		*nsp;		/* "nspname\0typname" in one allocation */
};
static struct tname *names;
static size_t	 nnames, capnames;

/* Index of the first of the nel entries of `size` bytes at base, each
 * starting with a uint32_t oid, whose oid is >= oid. */
static size_t
bound(const void *base, size_t nel, size_t size, uint32_t oid)
{
	size_t lo = 0, hi = nel;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (*(const uint32_t *)((const char *)base + mid * size) < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Make room for entry `at` of an array of *nel entries (capacity *capp). */
static void *
insert_at(void *base, size_t *nel, size_t *capp, size_t size, size_t at)
{
	if (*nel == *capp) {
		size_t c = *capp ? 2 * *capp : 64;

		if ((base = realloc(base, c * size)) == NULL)
			fatal(1, "%s: out of memory", __func__);
		*capp = c;
	}
	memmove((char *)base + (at + 1) * size, (char *)base + at * size, (*nel - at) * size);
	(*nel)++;
	return base;
}

bool
types_name(uint32_t oid, const char **nspname, const char **typname)
{
	size_t i = bound(names, nnames, sizeof(*names), oid);

	if (i >= nnames || names[i].oid != oid)
		return false;
	*nspname = names[i].nsp;
	*typname = names[i].nsp + strlen(names[i].nsp) + 1;
	return true;
}

static void
name_put(uint32_t oid, const char *nspname, const char *typname)
{
	size_t i = bound(names, nnames, sizeof(*names), oid);
	size_t ln = strlen(nspname), lt = strlen(typname);
	char *s = malloc(ln + lt + 2);

	if (s == NULL)
		fatal(1, "%s: out of memory", __func__);
	memcpy(s, nspname, ln + 1);
	memcpy(s + ln + 1, typname, lt + 1);
	if (i < nnames && names[i].oid == oid) {
		free(names[i].nsp);
		names[i].nsp = s;
		return;
	}
	names = insert_at(names, &nnames, &capnames, sizeof(*names), i);
	names[i] = (struct tname){ .oid = oid, .nsp = s };
}

bool
types_is_array(uint32_t oid)
{
	size_t i = bound(arrays, n, sizeof(*arrays), oid);

	return i < n && arrays[i] == oid;
}

void
types_put(uint32_t oid, const char *nspname, const char *typname)
{
	size_t i = bound(arrays, n, sizeof(*arrays), oid);
	bool known = i < n && arrays[i] == oid;
	bool array = typname != NULL && typname[0] == '_' &&
	    (nspname == NULL || strcmp(nspname, "pg_catalog") != 0);

	name_put(oid, nspname ? nspname : "", typname ? typname : "");
	if (array && !known) {
		arrays = insert_at(arrays, &n, &cap, sizeof(*arrays), i);
		arrays[i] = oid;
	} else if (!array && known) {	/* the oid was dropped and reused */
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
	for (size_t i = 0; i < nnames; i++)
		free(names[i].nsp);
	free(names);
	names = NULL;
	nnames = capnames = 0;
}
