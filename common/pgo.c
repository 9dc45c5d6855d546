/*
 * pgo: pgoutput protocol v1 and v2 (streaming) decoder (see pgo.h).  Pure: no I/O, no logging,
 * no allocation except a Relation's copy and tuple arrays that grow once.
 * Every field is read through the bounds-checked rd; a message must be
 * consumed exactly, and any failure leaves err saying which field of which
 * message broke and at what byte offset.  The caller adds the LSN.
 */
#include <stdio.h>
#include <string.h>

#include "common/pgo.h"

struct dctx {
	struct pgo_decoder	*dec;
	struct rd		 r;
	const uint8_t		*base;
	const char		*msg;	/* "Update", for errors */
};

static size_t
at(const struct dctx *d)
{
	return (size_t)(d->r.p - d->base);
}

static int
bad(struct dctx *d, const char *what, const char *field)
{
	snprintf(d->dec->err, sizeof(d->dec->err), "%s %s %s at byte %zu",
	    what, d->msg, field, at(d));
	return -1;
}

static int
get_u8(struct dctx *d, uint8_t *v, const char *field)
{
	return rd_u8(&d->r, v) < 0 ? bad(d, "truncated", field) : 0;
}

static int
get_u32(struct dctx *d, uint32_t *v, const char *field)
{
	return rd_u32(&d->r, v) < 0 ? bad(d, "truncated", field) : 0;
}

static int
get_u64(struct dctx *d, uint64_t *v, const char *field)
{
	return rd_u64(&d->r, v) < 0 ? bad(d, "truncated", field) : 0;
}

static int
get_i64(struct dctx *d, int64_t *v, const char *field)
{
	uint64_t u;

	if (get_u64(d, &u, field) < 0)
		return -1;
	*v = (int64_t)u;
	return 0;
}

static int
get_str(struct dctx *d, const char **s, const char *field)
{
	return rd_cstr(&d->r, s) < 0 ? bad(d, "unterminated", field) : 0;
}

/* pgoutput writes "" for pg_catalog; callers always get a real name. */
static int
get_nsp(struct dctx *d, const char **s, const char *field)
{
	if (get_str(d, s, field) < 0)
		return -1;
	if (**s == '\0')
		*s = "pg_catalog";
	return 0;
}

static int
get_tuple(struct dctx *d, struct tuple *t, const char *field)
{
	return tuple_parse(&d->r, t) < 0 ?
	    bad(d, "truncated or invalid", field) : 0;
}

static int
bad_marker(struct dctx *d, uint8_t got, const char *want)
{
	snprintf(d->dec->err, sizeof(d->dec->err),
	    "unexpected byte 0x%02x in %s at byte %zu (want %s)",
	    got, d->msg, at(d) - 1, want);
	return -1;
}

static int
dec_begin(struct dctx *d, struct pgo_msg *m)
{
	if (get_u64(d, &m->begin.final_lsn, "final_lsn") < 0 ||
	    get_i64(d, &m->begin.commit_ts, "timestamp") < 0 ||
	    get_u32(d, &m->begin.xid, "xid") < 0)
		return -1;
	return 0;
}

static int
dec_commit(struct dctx *d, struct pgo_msg *m)
{
	if (get_u8(d, &m->commit.flags, "flags") < 0 ||
	    get_u64(d, &m->commit.commit_lsn, "commit_lsn") < 0 ||
	    get_u64(d, &m->commit.end_lsn, "end_lsn") < 0 ||
	    get_i64(d, &m->commit.commit_ts, "timestamp") < 0)
		return -1;
	return 0;
}

static int
dec_origin(struct dctx *d, struct pgo_msg *m)
{
	if (get_u64(d, &m->origin.lsn, "lsn") < 0 ||
	    get_str(d, &m->origin.name, "name") < 0)
		return -1;
	return 0;
}

static int
dec_relation(struct dctx *d, struct pgo_msg *m)
{
	if ((m->rel = rel_parse(&d->r)) == NULL)
		return bad(d, "truncated or invalid", "body");
	return 0;
}

static int
dec_type(struct dctx *d, struct pgo_msg *m)
{
	if (get_u32(d, &m->typ.oid, "oid") < 0 ||
	    get_nsp(d, &m->typ.nspname, "namespace") < 0 ||
	    get_str(d, &m->typ.typname, "name") < 0)
		return -1;
	return 0;
}

/* Insert, Update, Delete open with the relid and a tuple marker byte. */
static int
get_head(struct dctx *d, struct pgo_msg *m, uint8_t *marker)
{
	if (get_u32(d, &m->change.relid, "relid") < 0 ||
	    get_u8(d, marker, "tuple marker") < 0)
		return -1;
	return 0;
}

static int
new_tuple(struct dctx *d, struct pgo_msg *m, uint8_t marker, const char *want)
{
	if (marker != 'N')
		return bad_marker(d, marker, want);
	m->change.has_new = 1;
	return get_tuple(d, &d->dec->newt, "new tuple");
}

static int
old_tuple(struct dctx *d, struct pgo_msg *m, uint8_t marker, const char *want)
{
	if (marker != 'K' && marker != 'O')
		return bad_marker(d, marker, want);
	m->change.old_kind = (char)marker;
	return get_tuple(d, &d->dec->oldt, "old tuple");
}

static int
dec_insert(struct dctx *d, struct pgo_msg *m)
{
	uint8_t k;

	return get_head(d, m, &k) < 0 ? -1 : new_tuple(d, m, k, "N");
}

/* The old tuple is optional: 'K' when the key changed, 'O' for FULL. */
static int
dec_update(struct dctx *d, struct pgo_msg *m)
{
	uint8_t k;

	if (get_head(d, m, &k) < 0)
		return -1;
	if (k != 'K' && k != 'O')
		return new_tuple(d, m, k, "K, O or N");
	if (old_tuple(d, m, k, "K or O") < 0 ||
	    get_u8(d, &k, "new tuple marker") < 0)
		return -1;
	return new_tuple(d, m, k, "N");
}

static int
dec_delete(struct dctx *d, struct pgo_msg *m)
{
	uint8_t k;

	return get_head(d, m, &k) < 0 ? -1 : old_tuple(d, m, k, "K or O");
}

static int
dec_truncate(struct dctx *d, struct pgo_msg *m)
{
	uint32_t n;

	if (get_u32(d, &n, "nrels") < 0 ||
	    get_u8(d, &m->truncate.flags, "flags") < 0)
		return -1;
	/* Compare by division: n * 4 could wrap on 32-bit size_t. */
	if (n > rd_left(&d->r) / 4)
		return bad(d, "truncated", "relids");
	m->truncate.nrels = n;
	return rd_bytes(&d->r, (size_t)n * 4, &m->truncate.relids_raw);
}

static int
dec_message(struct dctx *d, struct pgo_msg *m)
{
	uint32_t len;

	if (get_u8(d, &m->message.flags, "flags") < 0 ||
	    get_u64(d, &m->message.lsn, "lsn") < 0 ||
	    get_str(d, &m->message.prefix, "prefix") < 0 ||
	    get_u32(d, &len, "length") < 0)
		return -1;
	if (len > INT32_MAX || rd_bytes(&d->r, len, &m->message.content) < 0)
		return bad(d, "truncated or invalid", "content");
	m->message.len = len;
	return 0;
}

static int
dec_stream_start(struct dctx *d, struct pgo_msg *m)
{
	if (d->dec->in_stream) {
		snprintf(d->dec->err, sizeof(d->dec->err), "Stream Start inside a stream");
		return -1;
	}
	if (get_u32(d, &m->xid, "xid") < 0 ||
	    get_u8(d, &m->stream_start.first_segment, "first segment") < 0)
		return -1;
	d->dec->in_stream = 1;
	return 0;
}

static int
dec_stream_stop(struct dctx *d, struct pgo_msg *m)
{
	(void)m;
	if (!d->dec->in_stream) {
		snprintf(d->dec->err, sizeof(d->dec->err), "Stream Stop outside a stream");
		return -1;
	}
	d->dec->in_stream = 0;
	return 0;
}

static int
dec_stream_commit(struct dctx *d, struct pgo_msg *m)
{
	return get_u32(d, &m->xid, "xid") < 0 ? -1 : dec_commit(d, m);
}

/* PostgreSQL 15's form; 16 adds abort LSN and time only for parallel apply. */
static int
dec_stream_abort(struct dctx *d, struct pgo_msg *m)
{
	if (get_u32(d, &m->xid, "xid") < 0 ||
	    get_u32(d, &m->stream_abort.subxid, "subxid") < 0)
		return -1;
	return 0;
}

/* Inside a stream these carry the xid of their (sub)transaction first. */
static int
stream_xid(struct dctx *d, struct pgo_msg *m, char type)
{
	if (!d->dec->in_stream || strchr("RYIUDTM", type) == NULL)
		return 0;
	m->xid_len = 4;
	return get_u32(d, &m->xid, "xid");
}

static const struct {
	char		 type;
	const char	*name;
	int		(*fn)(struct dctx *, struct pgo_msg *);
} decoders[] = {
	{ PGO_BEGIN, "Begin", dec_begin },
	{ PGO_COMMIT, "Commit", dec_commit },
	{ PGO_ORIGIN, "Origin", dec_origin },
	{ PGO_RELATION, "Relation", dec_relation },
	{ PGO_TYPE, "Type", dec_type },
	{ PGO_INSERT, "Insert", dec_insert },
	{ PGO_UPDATE, "Update", dec_update },
	{ PGO_DELETE, "Delete", dec_delete },
	{ PGO_TRUNCATE, "Truncate", dec_truncate },
	{ PGO_MESSAGE, "Message", dec_message },
	{ PGO_STREAM_START, "Stream Start", dec_stream_start },
	{ PGO_STREAM_STOP, "Stream Stop", dec_stream_stop },
	{ PGO_STREAM_COMMIT, "Stream Commit", dec_stream_commit },
	{ PGO_STREAM_ABORT, "Stream Abort", dec_stream_abort },
};

int
pgo_decode(struct pgo_decoder *dec, const uint8_t *data, size_t len,
    struct pgo_msg *out)
{
	struct dctx d = { .dec = dec, .base = data, .msg = "message" };
	size_t i, n = sizeof(decoders) / sizeof(decoders[0]);
	uint8_t type;

	memset(out, 0, sizeof(*out));
	dec->err[0] = '\0';
	dec->oldt.ncols = dec->newt.ncols = 0;
	rd_init(&d.r, data, len);
	if (get_u8(&d, &type, "type") < 0)
		return -1;
	for (i = 0; i < n && decoders[i].type != (char)type; i++)
		;
	if (i == n) {
		snprintf(dec->err, sizeof(dec->err), "unknown message type 0x%02x", type);
		return -1;
	}
	out->type = (char)type;
	d.msg = decoders[i].name;
	if (stream_xid(&d, out, (char)type) < 0 || decoders[i].fn(&d, out) < 0)
		goto fail;
	if (rd_left(&d.r) != 0) {
		snprintf(dec->err, sizeof(dec->err), "%zu trailing bytes after %s at byte %zu",
		    rd_left(&d.r), d.msg, at(&d));
		goto fail;
	}
	return 0;
fail:
	rel_free(out->rel);
	out->rel = NULL;
	return -1;
}

void
pgo_decoder_free(struct pgo_decoder *dec)
{
	tuple_free(&dec->oldt);
	tuple_free(&dec->newt);
}

uint32_t
pgo_truncate_relid(const struct pgo_msg *m, uint32_t i)
{
	const uint8_t *p;

	if (i >= m->truncate.nrels)
		return 0;	/* InvalidOid */
	p = m->truncate.relids_raw + (size_t)i * 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
