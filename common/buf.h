/*
 * buf: a growing byte buffer, reused across messages so that hot paths do
 * not allocate per change.  Growth failure is fatal (out of memory is not an
 * input error).  buf_reset() keeps the allocation.
 */
#ifndef PGCDC_BUF_H
#define PGCDC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
};

/* The appends are inline (a JSON line is dozens of them, strlen of a literal
 * folds); only growth is out of line. */
void buf_grow(struct buf *b, size_t need);

static inline void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra > b->cap)
		buf_grow(b, b->len + extra);
}

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void buf_putc(struct buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len++] = (uint8_t)c;
}

static inline void buf_puts(struct buf *b, const char *s) { buf_append(b, s, strlen(s)); }
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void buf_reset(struct buf *b) { b->len = 0; }
void buf_free(struct buf *b);

/* Big-endian integer appends (the wire protocol and pgoutput byte order). */
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
/* Overwrite 4 bytes at `at` (a length written before its body). */
void buf_set_u32(struct buf *b, size_t at, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);

/* Bounds-checked big-endian reader.  Every get returns 0, or -1 when the
 * input is too short (and then leaves the reader unchanged). */
struct rd {
	const uint8_t	*p;
	const uint8_t	*end;
};

static inline void rd_init(struct rd *r, const void *p, size_t n)
{ r->p = p; r->end = (const uint8_t *)p + n; }
static inline size_t rd_left(const struct rd *r) { return (size_t)(r->end - r->p); }
int rd_u8(struct rd *r, uint8_t *v);
int rd_u16(struct rd *r, uint16_t *v);
int rd_u32(struct rd *r, uint32_t *v);
int rd_u64(struct rd *r, uint64_t *v);
/* n raw bytes: *p points into the input. */
int rd_bytes(struct rd *r, size_t n, const uint8_t **p);
/* A NUL-terminated string inside the input (pgoutput's String). */
int rd_cstr(struct rd *r, const char **s);

#endif
