/*
 * watch_rows: a table's current rows rebuilt from its Debezium envelopes,
 * the way scripts/events.py --state does: r/c insert or replace by key; u
 * removes before's key (when before is there), then sets after, keeping the
 * old values of the "unchanged" (TOAST) columns; d removes before's key; t
 * clears.  Rows stay sorted by key (numbers by value, else bytes), so lookups
 * are binary searches and the screen takes the first rows as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/watch.h"

static const struct watch_cell absent = { "", 0, WK_ABSENT };

void
watch_table_init(struct watch_table *t, const char *const *keys, uint32_t nkeys)
{
	memset(t, 0, sizeof(*t));
	if (nkeys == 0)
		return;
	if ((t->keys = calloc(nkeys, sizeof(*t->keys))) == NULL ||
	    (t->keycol = calloc(nkeys, sizeof(*t->keycol))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	for (uint32_t k = 0; k < nkeys; k++) {
		if ((t->keys[k] = strdup(keys[k])) == NULL)
			fatal(1, "%s: out of memory", __func__);
		t->keycol[k] = -1;
	}
	t->nkeys = nkeys;
}

static void
drop_rows(struct watch_table *t)
{
	for (size_t i = 0; i < t->nrows; i++)
		free(t->rows[i]);
	t->nrows = 0;
}

void
watch_table_clear(struct watch_table *t)
{
	drop_rows(t);
	t->events = t->bad = 0;
	t->why_bad[0] = '\0';
}

static void
drop_keys(struct watch_table *t)
{
	for (uint32_t k = 0; k < t->nkeys; k++)
		free(t->keys[k]);
	free(t->keys);
	free(t->keycol);
	t->keys = NULL;
	t->keycol = NULL;
	t->nkeys = 0;
}

void
watch_table_free(struct watch_table *t)
{
	watch_table_clear(t);
	free(t->rows);
	for (uint32_t c = 0; c < t->ncols; c++)
		free(t->cols[c]);
	free(t->cols);
	drop_keys(t);
	free(t->probe);
	jp_free(&t->doc);
	memset(t, 0, sizeof(*t));
}

const struct watch_cell *
watch_cell(const struct watch_row *r, uint32_t col)
{
	return col < r->n ? &r->c[col] : &absent;
}

/* -?digits(.digits)?: numeric's text form, compared by value. */
static int
is_decimal(const char *s, size_t len)
{
	size_t i = (len > 0 && s[0] == '-'), start = i, dot = 0;

	for (; i < len; i++) {
		if (s[i] == '.' && dot == 0 && i > start && i + 1 < len)
			dot = i;
		else if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return len > start;
}

struct dec { int neg; const char *ip, *fp; size_t ni, nf; };

static void
dec_split(const char *s, size_t len, struct dec *d)
{
	const char *end = s + len, *dot;

	d->neg = len > 0 && s[0] == '-';
	s += d->neg;
	dot = memchr(s, '.', (size_t)(end - s));
	d->ip = s;
	d->ni = (size_t)((dot ? dot : end) - s);
	d->fp = dot ? dot + 1 : end;
	d->nf = (size_t)(end - d->fp);
	while (d->ni > 0 && d->ip[0] == '0')
		d->ip++, d->ni--;
	while (d->nf > 0 && d->fp[d->nf - 1] == '0')
		d->nf--;
	if (d->ni == 0 && d->nf == 0)
		d->neg = 0;	/* -0 is 0 */
}

/* Exact comparison of two decimals (no exponent) by value. */
static int
dec_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	struct dec x, y;
	int r;

	dec_split(a, alen, &x);
	dec_split(b, blen, &y);
	if (x.neg != y.neg)
		return x.neg ? -1 : 1;
	if (x.ni != y.ni)
		r = x.ni < y.ni ? -1 : 1;
	else if ((r = memcmp(x.ip, y.ip, x.ni)) == 0 &&
	    (r = memcmp(x.fp, y.fp, x.nf < y.nf ? x.nf : y.nf)) == 0)
		r = x.nf == y.nf ? 0 : x.nf < y.nf ? -1 : 1;
	return x.neg ? -r : r;
}

static long double
num_value(const char *s, size_t len)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%.*s", (int)(len < sizeof(tmp) ? len : sizeof(tmp) - 1), s);
	return strtold(tmp, NULL);
}

static int
num_cmp(const struct watch_cell *a, const struct watch_cell *b)
{
	long double x, y;

	if (!memchr(a->text, 'e', a->len) && !memchr(a->text, 'E', a->len) &&
	    !memchr(b->text, 'e', b->len) && !memchr(b->text, 'E', b->len))
		return dec_cmp(a->text, a->len, b->text, b->len);
	x = num_value(a->text, a->len);
	y = num_value(b->text, b->len);
	return x < y ? -1 : x > y;
}

static int
cell_cmp(const struct watch_cell *a, const struct watch_cell *b)
{
	int r;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if ((a->kind == WK_NUM || a->kind == WK_DECIMAL) && (r = num_cmp(a, b)) != 0)
		return r;
	if ((r = memcmp(a->text, b->text, a->len < b->len ? a->len : b->len)) != 0)
		return r;
	return a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
}

static int
key_cmp(const struct watch_table *t, const struct watch_row *a, const struct watch_row *b)
{
	int r;

	if (t->nkeys == 0) {
		for (uint32_t c = 0; c < t->ncols; c++)
			if ((r = cell_cmp(watch_cell(a, c), watch_cell(b, c))) != 0)
				return r;
		return 0;
	}
	for (uint32_t k = 0; k < t->nkeys; k++)
		if (t->keycol[k] >= 0 && (r = cell_cmp(watch_cell(a, (uint32_t)t->keycol[k]),
		    watch_cell(b, (uint32_t)t->keycol[k]))) != 0)
			return r;
	return 0;
}

/* Index of the row with r's key, or where it would go (*found 0). */
static size_t
find(const struct watch_table *t, const struct watch_row *r, int *found)
{
	size_t lo = 0, hi = t->nrows;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(t, r, t->rows[mid]);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Column of name, or -1; hint: where it usually is. */
static int
col_find(const struct watch_table *t, const char *name, uint32_t hint)
{
	if (hint < t->ncols && strcmp(t->cols[hint], name) == 0)
		return (int)hint;
	for (uint32_t c = 0; c < t->ncols; c++)
		if (strcmp(t->cols[c], name) == 0)
			return (int)c;
	return -1;
}

/* Column of name, added at the end if new. */
static uint32_t
col_index(struct watch_table *t, const char *name, uint32_t hint)
{
	int c = col_find(t, name, hint);

	if (c >= 0)
		return (uint32_t)c;
	if ((t->ncols & 15) == 0 &&
	    (t->cols = realloc(t->cols, (t->ncols + 16) * sizeof(*t->cols))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	if ((t->cols[t->ncols] = strdup(name)) == NULL)
		fatal(1, "%s: out of memory", __func__);
	for (uint32_t k = 0; k < t->nkeys; k++)
		if (strcmp(t->keys[k], name) == 0)
			t->keycol[k] = (int)t->ncols;
	return t->ncols++;
}

static struct watch_cell
cell_of(const struct jp_doc *d, const struct jp_val *v)
{
	struct watch_cell c;
	size_t len;

	c.text = jp_text(d, v, &len);
	c.len = (uint32_t)len;
	switch (v->type) {
	case JP_NULL: c.kind = WK_NULL; break;
	case JP_TRUE: case JP_FALSE: c.kind = WK_BOOL; break;
	case JP_NUMBER: c.kind = WK_NUM; break;
	case JP_STRING: c.kind = is_decimal(c.text, len) ? WK_DECIMAL : WK_STR; break;
	default: c.kind = WK_JSON;
	}
	return c;
}

/* t->probe := the row of object o, cells pointing into t->doc. */
static int
probe_from(struct watch_table *t, const struct jp_val *o)
{
	const struct jp_doc *d = &t->doc;
	const struct jp_val *k, *v;
	uint32_t i = 0;

	if (o == NULL || o->type != JP_OBJECT)
		return -1;
	for (k = jp_first(d, o); k; k = jp_next(d, o, v), i++) {
		v = jp_next(d, o, k);
		col_index(t, d->str + k->str, i);
	}
	if (t->probecap < t->ncols) {
		t->probecap = t->ncols + 16;
		t->probe = realloc(t->probe, sizeof(*t->probe) + t->probecap * sizeof(t->probe->c[0]));
		if (t->probe == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	t->probe->n = t->ncols;
	for (uint32_t c = 0; c < t->ncols; c++)
		t->probe->c[c] = absent;
	i = 0;
	for (k = jp_first(d, o); k; k = jp_next(d, o, v), i++) {
		v = jp_next(d, o, k);
		t->probe->c[col_index(t, d->str + k->str, i)] = cell_of(d, v);
	}
	return 0;
}

/* An owned copy of the probe: one allocation, texts NUL-terminated. */
static struct watch_row *
row_dup(const struct watch_row *p)
{
	size_t size = sizeof(*p) + p->n * sizeof(p->c[0]);
	struct watch_row *r;
	char *o;

	for (uint32_t c = 0; c < p->n; c++)
		size += p->c[c].len + 1;
	if ((r = malloc(size)) == NULL)
		fatal(1, "%s: out of memory", __func__);
	r->n = p->n;
	o = (char *)&r->c[p->n];
	for (uint32_t c = 0; c < p->n; c++) {
		r->c[c] = p->c[c];
		memcpy(o, p->c[c].text, p->c[c].len);
		o[p->c[c].len] = '\0';
		r->c[c].text = o;
		o += p->c[c].len + 1;
	}
	return r;
}

/* The row with o's key; removed from the table if remove. */
static struct watch_row *
take(struct watch_table *t, const struct jp_val *o, int remove)
{
	struct watch_row *r;
	size_t i;
	int found;

	if (probe_from(t, o) < 0)
		return NULL;
	i = find(t, t->probe, &found);
	if (!found)
		return NULL;
	r = t->rows[i];
	if (remove) {
		memmove(&t->rows[i], &t->rows[i + 1], (t->nrows - i - 1) * sizeof(*t->rows));
		t->nrows--;
	}
	return r;
}

static int
cmp_rows(const void *a, const void *b, void *t)
{
	return key_cmp(t, *(struct watch_row *const *)a, *(struct watch_row *const *)b);
}

/* The events lack a key column the catalog named (renamed since?): the
 * whole row becomes the key, so rows are not merged by a missing value. */
static void
whole_row_key(struct watch_table *t)
{
	drop_keys(t);
	if (t->nrows > 1)
		qsort_r(t->rows, t->nrows, sizeof(*t->rows), cmp_rows, t);
}

/* Insert or replace after's row; old: its previous version, for the
 * unchanged TOAST columns. */
static int
upsert(struct watch_table *t, const struct jp_val *after, const struct watch_row *old)
{
	const struct jp_val *unch = jp_get(&t->doc, jp_root(&t->doc), "unchanged"), *u;
	struct watch_row *r;
	size_t i;
	int found, c;

	if (probe_from(t, after) < 0)
		return -1;
	for (u = jp_first(&t->doc, unch); u && old && unch->type == JP_ARRAY; u = jp_next(&t->doc, unch, u))
		if (u->type == JP_STRING && (c = col_find(t, t->doc.str + u->str, 0)) >= 0)
			t->probe->c[c] = *watch_cell(old, (uint32_t)c);
	for (uint32_t k = 0; k < t->nkeys; k++)
		if (t->keycol[k] < 0 || t->probe->c[t->keycol[k]].kind == WK_ABSENT) {
			whole_row_key(t);
			break;
		}
	r = row_dup(t->probe);
	i = find(t, r, &found);
	if (found) {
		free(t->rows[i]);
		t->rows[i] = r;
		return 0;
	}
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		if ((t->rows = realloc(t->rows, t->cap * sizeof(*t->rows))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	memmove(&t->rows[i + 1], &t->rows[i], (t->nrows - i) * sizeof(*t->rows));
	t->rows[i] = r;
	t->nrows++;
	return 0;
}

static int
bad(struct watch_table *t, const char *why)
{
	t->bad++;
	snprintf(t->why_bad, sizeof(t->why_bad), "%s", why);
	return -1;
}

static int
apply_update(struct watch_table *t, const struct jp_val *before, const struct jp_val *after)
{
	struct watch_row *removed = NULL;
	int rc;

	if (before != NULL && before->type == JP_OBJECT)
		removed = take(t, before, 1);
	rc = upsert(t, after, removed ? removed : take(t, after, 0));
	free(removed);
	return rc;
}

int
watch_table_apply(struct watch_table *t, const char *line, size_t len)
{
	const struct jp_val *root, *op, *before, *after;
	char why[160];
	int rc = 0;

	if (jp_parse(&t->doc, line, len) < 0) {
		snprintf(why, sizeof(why), "%s at byte %zu", t->doc.err, t->doc.err_off);
		return bad(t, why);
	}
	root = jp_root(&t->doc);
	op = jp_get(&t->doc, root, "op");
	before = jp_get(&t->doc, root, "before");
	after = jp_get(&t->doc, root, "after");
	if (op == NULL || op->type != JP_STRING || op->slen != 1)
		return bad(t, "no \"op\"");
	switch (t->doc.str[op->str]) {
	case 'm':
		return 0;
	case 't':
		drop_rows(t);
		break;
	case 'r': case 'c':
		rc = upsert(t, after, NULL);
		break;
	case 'u':
		rc = apply_update(t, before, after);
		break;
	case 'd':
		if (before == NULL || before->type != JP_OBJECT)
			return bad(t, "op d without \"before\"");
		free(take(t, before, 1));
		break;
	default:
		return bad(t, "unknown \"op\"");
	}
	if (rc < 0)
		return bad(t, "no \"after\" object");
	t->events++;
	return 0;
}
