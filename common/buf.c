/*
 * buf: growing byte buffer and bounds-checked big-endian reader.
 * Buffers grow geometrically and are never shrunk, so steady state does not
 * allocate.  Allocation failure is fatal: there is no useful recovery.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"

void
buf_grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;

	while (cap < need)
		cap *= 2;
	b->data = realloc(b->data, cap);
	if (b->data == NULL)
		fatal(1, "%s: out of memory (%zu bytes)", __func__, cap);
	b->cap = cap;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void
put_be(struct buf *b, uint64_t v, int n)
{
	buf_reserve(b, (size_t)n);
	for (int i = n - 1; i >= 0; i--)
		b->data[b->len++] = (uint8_t)(v >> (8 * i));
}

void buf_put_u8(struct buf *b, uint8_t v) { put_be(b, v, 1); }
void buf_put_u16(struct buf *b, uint16_t v) { put_be(b, v, 2); }
void buf_put_u32(struct buf *b, uint32_t v) { put_be(b, v, 4); }
void buf_put_u64(struct buf *b, uint64_t v) { put_be(b, v, 8); }

void
buf_set_u32(struct buf *b, size_t at, uint32_t v)
{
	for (int i = 0; i < 4 && at + (size_t)i < b->len; i++)
		b->data[at + (size_t)i] = (uint8_t)(v >> (24 - 8 * i));
}

static int
get_be(struct rd *r, int n, uint64_t *v)
{
	uint64_t x = 0;

	if (rd_left(r) < (size_t)n)
		return -1;
	for (int i = 0; i < n; i++)
		x = (x << 8) | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

int
rd_u8(struct rd *r, uint8_t *v)
{
	uint64_t x;

	if (get_be(r, 1, &x) < 0)
		return -1;
	*v = (uint8_t)x;
	return 0;
}

int
rd_u16(struct rd *r, uint16_t *v)
{
	uint64_t x;

	if (get_be(r, 2, &x) < 0)
		return -1;
	*v = (uint16_t)x;
	return 0;
}

int
rd_u32(struct rd *r, uint32_t *v)
{
	uint64_t x;

	if (get_be(r, 4, &x) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int
rd_u64(struct rd *r, uint64_t *v)
{
	return get_be(r, 8, v);
}

int
rd_bytes(struct rd *r, size_t n, const uint8_t **p)
{
	if (rd_left(r) < n)
		return -1;
	*p = r->p;
	r->p += n;
	return 0;
}

int
rd_cstr(struct rd *r, const char **s)
{
	const uint8_t *nul = memchr(r->p, '\0', rd_left(r));

	if (nul == NULL)
		return -1;
	*s = (const char *)r->p;
	r->p = nul + 1;
	return 0;
}
