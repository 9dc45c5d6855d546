/*
 * watch_draw: one frame of `pgcdc watch` as plain ANSI escapes (no
 * terminfo): title, column names, the first rows that fit, a footer with
 * the row count.  Every line is cleared and written at its own position, and
 * nothing is written past the terminal's width, so the screen never scrolls.
 * Cell text is sanitized: control characters and invalid UTF-8 show as '?'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/watch.h"

#define SEP	2	/* spaces between columns */

/* Per-column scratch of the frame being drawn, grown to the widest table. */
static struct {
	const char	**text;
	size_t		 *len;
	int		 *w, *right;
	uint32_t	  cap;
} L;

static void
scratch(uint32_t ncols)
{
	if (ncols <= L.cap)
		return;
	L.cap = ncols + 16;
	if ((L.text = realloc(L.text, L.cap * sizeof(*L.text))) == NULL ||
	    (L.len = realloc(L.len, L.cap * sizeof(*L.len))) == NULL ||
	    (L.w = realloc(L.w, L.cap * sizeof(*L.w))) == NULL ||
	    (L.right = realloc(L.right, L.cap * sizeof(*L.right))) == NULL)
		fatal(1, "%s: out of memory", __func__);
}

/* Next code point of s (n > 0): its byte length; invalid bytes are one
 * U+FFFD each. */
static size_t
utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] < 0xC2 ? 0 : s[0] < 0xE0 ? 2 :
	    s[0] < 0xF0 ? 3 : s[0] < 0xF5 ? 4 : 0;

	*cp = s[0];
	if (len == 1)
		return 1;
	if (len == 0 || n < len)
		goto invalid;
	*cp = s[0] & (0x7F >> len);
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			goto invalid;
		*cp = *cp << 6 | (s[k] & 0x3F);
	}
	if ((len == 3 && (*cp < 0x800 || (*cp >= 0xD800 && *cp <= 0xDFFF))) ||
	    (len == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)))
		goto invalid;
	return len;
invalid:
	*cp = 0xFFFD;
	return 1;
}

/* Columns a code point takes: controls are shown as '?' (1). */
static int
cp_width(uint32_t cp)
{
	static const uint32_t wide[][2] = {
		{ 0x1100, 0x115F }, { 0x2E80, 0x303E }, { 0x3041, 0x33FF }, { 0x3400, 0x4DBF },
		{ 0x4E00, 0x9FFF }, { 0xA000, 0xA4CF }, { 0xAC00, 0xD7A3 }, { 0xF900, 0xFAFF },
		{ 0xFE30, 0xFE4F }, { 0xFF00, 0xFF60 }, { 0xFFE0, 0xFFE6 }, { 0x1F300, 0x1F64F },
		{ 0x1F900, 0x1F9FF }, { 0x20000, 0x3FFFD },
	};

	if ((cp >= 0x300 && cp <= 0x36F) || (cp >= 0x200B && cp <= 0x200F) ||
	    (cp >= 0xFE00 && cp <= 0xFE0F))
		return 0;
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
		if (cp >= wide[i][0] && cp <= wide[i][1])
			return 2;
	return 1;
}

static int
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFFFD;
}

static int
text_width(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	uint32_t cp;
	int w = 0;

	for (size_t i = 0; i < n;) {
		i += utf8_next(p + i, n - i, &cp);
		w += is_control(cp) ? 1 : cp_width(cp);
	}
	return w;
}

static void
pad(struct buf *out, int n)
{
	for (; n > 0; n--)
		buf_putc(out, ' ');
}

/* s in exactly w columns: padded (left or right), or cut with a '~'. */
static void
put_cell(struct buf *out, const char *s, size_t n, int w, int right)
{
	const uint8_t *p = (const uint8_t *)s;
	int full = text_width(s, n), used = 0, room = full <= w ? w : w - 1;
	uint32_t cp;
	size_t len;

	if (w <= 0)
		return;
	if (right && full < w)
		pad(out, w - full);
	for (size_t i = 0; i < n; i += len) {
		int cw;

		len = utf8_next(p + i, n - i, &cp);
		cw = is_control(cp) ? 1 : cp_width(cp);
		if (used + cw > room)
			break;
		if (is_control(cp))
			buf_putc(out, '?');
		else
			buf_append(out, p + i, len);
		used += cw;
	}
	if (full > w)
		buf_putc(out, '~'), used++;
	if (!right || full > w)
		pad(out, w - used);
}

static const char *
cell_text(const struct watch_cell *c, size_t *n)
{
	*n = c->len;
	return c->text;
}

/* Shrink the widest columns until the line fits width: the largest cap
 * that fits, and what is left over to the capped columns. */
static void
fit(int *w, uint32_t ncols, int width)
{
	int avail = width - SEP * (int)(ncols > 0 ? ncols - 1 : 0), lo = 1, hi = 1, sum;

	for (uint32_t c = 0; c < ncols; c++)
		hi = w[c] > hi ? w[c] : hi;
	while (lo < hi) {
		int cap = lo + (hi - lo + 1) / 2;

		sum = 0;
		for (uint32_t c = 0; c < ncols; c++)
			sum += w[c] < cap ? w[c] : cap;
		if (sum <= avail)
			lo = cap;
		else
			hi = cap - 1;
	}
	sum = 0;
	for (uint32_t c = 0; c < ncols; c++)
		sum += w[c] < lo ? w[c] : lo;
	for (uint32_t c = 0; c < ncols; c++) {
		int extra = w[c] > lo && sum < avail;

		w[c] = (w[c] < lo ? w[c] : lo) + extra;
		sum += extra;
	}
}

/* One line of cells, cut at width. */
static void
put_line(struct buf *out, int y, const char **text, const size_t *len,
    const int *right, const int *w, uint32_t ncols, int width)
{
	int x = 0;

	buf_printf(out, "\033[%d;1H\033[2K", y);
	for (uint32_t c = 0; c < ncols && x < width; c++) {
		int cw = w[c] < width - x ? w[c] : width - x;

		put_cell(out, text[c], len[c], cw, right[c]);
		x += cw;
		if (c + 1 < ncols && x + SEP < width) {
			pad(out, SEP);
			x += SEP;
		} else if (c + 1 < ncols) {
			break;
		}
	}
}

static void
put_row(struct buf *out, int y, const struct watch_table *t, const struct watch_row *r,
    int width)
{
	for (uint32_t c = 0; c < t->ncols; c++) {
		L.text[c] = cell_text(watch_cell(r, c), &L.len[c]);
		L.right[c] = watch_cell(r, c)->kind == WK_NUM;
	}
	put_line(out, y, L.text, L.len, L.right, L.w, t->ncols, width);
}

static void
put_footer(struct buf *out, const struct watch_table *t, const struct watch_info *info,
    size_t shown, int y, int width)
{
	char line[512];
	size_t n;

	if (shown < t->nrows)
		n = (size_t)snprintf(line, sizeof(line), "%zu rows, showing %zu", t->nrows, shown);
	else
		n = (size_t)snprintf(line, sizeof(line), "%zu row%s", t->nrows, t->nrows == 1 ? "" : "s");
	if (t->bad > 0 && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "  |  %llu bad line%s skipped (%s)",
		    (unsigned long long)t->bad, t->bad == 1 ? "" : "s", t->why_bad);
	if (info->status[0] && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "  |  %s", info->status);
	n = n < sizeof(line) ? n : sizeof(line) - 1;
	buf_printf(out, "\033[%d;1H\033[2K", y);
	put_cell(out, line, n, width - 1, 0);	/* not the last column: no wrap */
}

void
watch_draw(struct buf *out, const struct watch_table *t, const struct watch_info *info,
    int width, int height)
{
	size_t shown = height > 3 ? (size_t)(height - 3) : 0, n;
	char title[512];

	scratch(t->ncols);
	shown = shown < t->nrows ? shown : t->nrows;
	for (uint32_t c = 0; c < t->ncols; c++) {
		L.w[c] = text_width(t->cols[c], L.len[c] = strlen(t->cols[c]));
		L.right[c] = 0;
		for (size_t i = 0; i < shown; i++) {
			const char *s = cell_text(watch_cell(t->rows[i], c), &n);
			int cw = text_width(s, n);

			L.w[c] = cw > L.w[c] ? cw : L.w[c];
		}
	}
	fit(L.w, t->ncols, width);
	buf_reset(out);
	buf_puts(out, "\033[H");
	if (height >= 3) {
		n = (size_t)snprintf(title, sizeof(title), " pgcdc watch %s   %s   (q: quit)",
		    info->table, info->keydesc);
		buf_puts(out, "\033[1;1H\033[2K\033[7m");
		put_cell(out, title, n < sizeof(title) ? n : sizeof(title) - 1, width, 0);
		buf_puts(out, "\033[0m\033[1m");
		put_line(out, 2, (const char **)t->cols, L.len, L.right, L.w, t->ncols, width);
		buf_puts(out, "\033[0m");
	}
	for (size_t i = 0; i < shown; i++)
		put_row(out, 3 + (int)i, t, t->rows[i], width);
	buf_printf(out, "\033[%d;1H\033[J", 3 + (int)shown);
	put_footer(out, t, info, shown, height > 0 ? height : 1, width);
}
