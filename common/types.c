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
	uint32_t	 oid;
	char		*nsp;		/* "nspname\0typname" in one allocation */
};
static struct tname *names;
static size_t	 nnames, capnames;

/* Index of the first name entry >= oid. */
static size_t
name_bound(uint32_t oid)
{
	size_t lo = 0, hi = nnames;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (names[mid].oid < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
types_name(uint32_t oid, const char **nspname, const char **typname)
{
	size_t i = name_bound(oid);

	if (i >= nnames || names[i].oid != oid)
		return false;
	*nspname = names[i].nsp;
	*typname = names[i].nsp + strlen(names[i].nsp) + 1;
	return true;
}

static void
name_put(uint32_t oid, const char *nspname, const char *typname)
{
	size_t i = name_bound(oid), ln = strlen(nspname), lt = strlen(typname);
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
	if (nnames == capnames) {
		struct tname *p = realloc(names, (capnames ? 2 * capnames : 64) * sizeof(*p));

		if (p == NULL)
			fatal(1, "%s: out of memory", __func__);
		names = p;
		capnames = capnames ? 2 * capnames : 64;
	}
	memmove(names + i + 1, names + i, (nnames - i) * sizeof(*names));
	names[i] = (struct tname){ .oid = oid, .nsp = s };
	nnames++;
}

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

	name_put(oid, nspname ? nspname : "", typname ? typname : "");
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
	for (size_t i = 0; i < nnames; i++)
		free(names[i].nsp);
	free(names);
	names = NULL;
	nnames = capnames = 0;
}
