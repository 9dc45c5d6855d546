/*
 * race: invisible-but-streamed transactions (see race.h).  xids are compared
 * modulo 2^32, as pgoutput sends 32-bit xids.  The ring keeps the newest
 * half when full; older xids are long visible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/race.h"

int
race_snapshot(struct race_snap *r, const char *txt)
{
	unsigned long long xmin, xmax;
	const char *p;

	if (sscanf(txt, "%llu:%llu:", &xmin, &xmax) != 2 ||
	    (p = strchr(strchr(txt, ':') + 1, ':')) == NULL)
		return -1;
	r->xmin = (uint32_t)xmin;
	r->xmax = (uint32_t)xmax;
	r->nxip = 0;
	for (p++; *p; p += strspn(p, ",")) {
		char *end;
		unsigned long long x = strtoull(p, &end, 10);

		if (end == p)
			break;
		if (r->nxip == r->xipcap) {
			r->xipcap = r->xipcap ? 2 * r->xipcap : 64;
			if ((r->xip = realloc(r->xip, r->xipcap * sizeof(*r->xip))) == NULL)
				fatal(1, "%s: out of memory", __func__);
		}
		r->xip[r->nxip++] = (uint32_t)x;
		p = end;
	}
	return 0;
}

void
race_note(struct race *r, uint32_t xid)
{
	if (r->nring == RACE_RING) {
		memmove(r->ring, r->ring + RACE_RING / 2, RACE_RING / 2 * sizeof(r->ring[0]));
		r->nring = RACE_RING / 2;
		r->at_low = r->at_low > RACE_RING / 2 ? r->at_low - RACE_RING / 2 : 0;
	}
	r->ring[r->nring++] = xid;
}

uint32_t
race_check(const struct race *r, const struct race_snap *rs)
{
	for (size_t i = 0; i < r->at_low; i++) {
		uint32_t x = r->ring[i];

		if ((int32_t)(x - rs->xmax) >= 0)
			return x;
		if ((int32_t)(x - rs->xmin) < 0)
			continue;
		for (size_t j = 0; j < rs->nxip; j++)
			if (rs->xip[j] == x)
				return x;
	}
	return 0;
}

void
race_snap_free(struct race_snap *r)
{
	free(r->xip);
	r->xip = NULL;
	r->nxip = r->xipcap = 0;
}
