/*
 * ckpt: the LMDB checkpoint store.  One environment per state_dir, opened
 * with MDB_NOTLS and default (synchronous) durability by each process after
 * exec.  A batch is a byte log of ops (u8 kind, u32 key len, key, u32 value
 * len, value) replayed into one write transaction, so a commit that hits
 * MDB_MAP_FULL can double the map and try again.  No transaction is ever
 * left open between calls, which is what mdb_env_set_mapsize() requires.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "common/ckpt.h"
#include "common/log.h"
#include "common/util.h"

#define CKPT_MAP_DEFAULT	((size_t)64 << 20)
#define CKPT_MAX_READERS	126
#define CKPT_MAX_GROWTHS	24	/* doublings per commit: 1 MiB -> 16 TiB */

enum { OP_PUT = 'P', OP_DEL = 'D', OP_BAD = 'X' };
#define APPLY_BAD_OP (-1)	/* not an LMDB or errno code */

struct ckpt {
	MDB_env		*env;
	MDB_dbi		 dbi;
	char		*dir;
};

static void
drop_stale_readers(struct ckpt *c)
{
	int dead = 0;

	if (mdb_reader_check(c->env, &dead) == 0 && dead > 0)
		log_info("ckpt: cleared %d stale reader slot(s) in %s", dead, c->dir);
}

/* Begin a transaction, adopting a map that another process has grown (it
 * may grow it again between our adopting and our retry: a few times). */
static int
txn_begin(struct ckpt *c, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(c->env, NULL, flags, txn);

	for (int tries = 0; rc == MDB_MAP_RESIZED && tries < 16; tries++) {
		if ((rc = mdb_env_set_mapsize(c->env, 0)) == 0)
			rc = mdb_txn_begin(c->env, NULL, flags, txn);
	}
	if (rc != 0)
		log_error("%s: %s: %s", __func__, c->dir, mdb_strerror(rc));
	return rc;
}

static int
open_env(struct ckpt *c, size_t map_size)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_env_create(&c->env)) != 0 ||
	    (rc = mdb_env_set_maxreaders(c->env, CKPT_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(c->env, map_size)) != 0 ||
	    (rc = mdb_env_open(c->env, c->dir, MDB_NOTLS, 0600)) != 0) {
		log_error("ckpt_open: %s: %s", c->dir, mdb_strerror(rc));
		return -1;
	}
	drop_stale_readers(c);
	/* A process killed inside a commit may have written its meta page
	 * without publishing it to readers (the lock file's txnid); the next
	 * writer to take the (owner-dead) write lock publishes it.  Take the
	 * write lock once now, so this process never reads the state from
	 * before that commit and acts on it (jsonl recovery cut files back to
	 * offsets a resurrected commit then contradicted). */
	if (txn_begin(c, 0, &txn) != 0)
		return -1;
	mdb_txn_abort(txn);
	if (txn_begin(c, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
	mdb_txn_abort(txn);
	if (rc != 0) {
		log_error("ckpt_open: %s: open database: %s", c->dir, mdb_strerror(rc));
		return -1;
	}
	return 0;
}

struct ckpt *
ckpt_open(const char *state_dir, size_t map_size)
{
	struct ckpt *c;

	if (util_mkdir_p(state_dir, 0700) < 0)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->dir = strdup(state_dir)) == NULL)
		fatal(1, "%s: out of memory", __func__);
	if (open_env(c, map_size ? map_size : CKPT_MAP_DEFAULT) < 0) {
		ckpt_close(c);
		return NULL;
	}
	return c;
}

void
ckpt_close(struct ckpt *c)
{
	if (c == NULL)
		return;
	if (c->env)
		mdb_env_close(c->env);
	free(c->dir);
	free(c);
}

size_t
ckpt_map_size(struct ckpt *c)
{
	MDB_envinfo info;

	if (mdb_env_info(c->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

static int
key_ok(const char *key, size_t *n)
{
	*n = key ? strlen(key) : 0;
	if (*n > 0 && *n <= CKPT_KEY_MAX)
		return 1;
	log_error("ckpt: key of %zu bytes refused (1..%d allowed): %.64s%s", *n,
	    CKPT_KEY_MAX, key ? key : "", *n > 64 ? "..." : "");
	return 0;
}

int
ckpt_get(struct ckpt *c, const char *key, void *val, size_t *len)
{
	MDB_val k, v;
	MDB_txn *txn;
	size_t n;
	int rc;

	if (!key_ok(key, &n))
		return -1;
	if (txn_begin(c, MDB_RDONLY, &txn) != 0)
		return -1;
	k.mv_size = n;
	k.mv_data = (void *)key;
	rc = mdb_get(txn, c->dbi, &k, &v);
	if (rc == 0) {
		if (*len > 0)
			memcpy(val, v.mv_data, v.mv_size < *len ? v.mv_size : *len);
		*len = v.mv_size;
	}
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_error("%s: %s: %s", __func__, key, mdb_strerror(rc));
		return -1;
	}
	return 1;
}

int
ckpt_get_lsn(struct ckpt *c, const char *key, lsn_t *out)
{
	uint8_t be[8];
	size_t len = sizeof(be);
	int found = ckpt_get(c, key, be, &len);
	struct rd r;

	*out = LSN_INVALID;
	if (found != 1)
		return found;
	if (len != sizeof(be)) {
		log_error("%s: %s: stored value has %zu bytes, not 8", __func__, key, len);
		return -1;
	}
	rd_init(&r, be, sizeof(be));
	return rd_u64(&r, out) < 0 ? -1 : 1;
}

/* fn runs inside the read transaction: it must not call ckpt_commit(), which
 * may need to resize the map (LMDB forbids that while a txn is open). */
int
ckpt_scan(struct ckpt *c, const char *prefix,
    int (*fn)(const char *key, const void *val, size_t len, void *arg), void *arg)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	char key[CKPT_KEY_MAX + 1];
	MDB_cursor *cur = NULL;
	MDB_val k = { plen, (void *)prefix }, v;
	MDB_txn *txn;
	int rc;

	if (txn_begin(c, MDB_RDONLY, &txn) != 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size > CKPT_KEY_MAX)
			continue;	/* not written by us */
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = '\0';
		if (fn(key, v.mv_data, v.mv_size, arg) != 0)
			break;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0)
		log_error("%s: %s: %s", __func__, prefix ? prefix : "", mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

static void
record(struct ckpt_batch *b, int kind, const char *key, const void *val, size_t len)
{
	size_t n;

	if (!key_ok(key, &n) || len > UINT32_MAX) {
		buf_put_u8(&b->ops, OP_BAD);	/* ckpt_commit will refuse the batch */
		b->count++;
		return;
	}
	buf_reserve(&b->ops, 9 + n + len);
	buf_put_u8(&b->ops, (uint8_t)kind);
	buf_put_u32(&b->ops, (uint32_t)n);
	buf_append(&b->ops, key, n);
	buf_put_u32(&b->ops, (uint32_t)len);
	buf_append(&b->ops, val, len);
	b->count++;
}

void
ckpt_put(struct ckpt_batch *b, const char *key, const void *val, size_t len)
{
	record(b, OP_PUT, key, val, len);
}

void
ckpt_put_lsn(struct ckpt_batch *b, const char *key, lsn_t lsn)
{
	uint8_t be[8];

	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(lsn >> (56 - 8 * i));
	record(b, OP_PUT, key, be, sizeof(be));
}

void
ckpt_del(struct ckpt_batch *b, const char *key)
{
	record(b, OP_DEL, key, NULL, 0);
}

void
ckpt_batch_free(struct ckpt_batch *b)
{
	buf_free(&b->ops);
	b->count = 0;
}

/* Replay the batch into txn.  Returns an LMDB code, or APPLY_BAD_OP. */
static int
apply(struct ckpt *c, MDB_txn *txn, const struct ckpt_batch *b)
{
	struct rd r;
	uint8_t kind;
	uint32_t kn, vn;
	const uint8_t *kp, *vp;
	MDB_val k, v;
	int rc;

	rd_init(&r, b->ops.data, b->ops.len);
	while (rd_left(&r) > 0) {
		if (rd_u8(&r, &kind) < 0 || kind == OP_BAD || rd_u32(&r, &kn) < 0 ||
		    rd_bytes(&r, kn, &kp) < 0 || rd_u32(&r, &vn) < 0 ||
		    rd_bytes(&r, vn, &vp) < 0)
			return APPLY_BAD_OP;
		k = (MDB_val){ kn, (void *)kp };
		v = (MDB_val){ vn, (void *)vp };
		rc = kind == OP_PUT ? mdb_put(txn, c->dbi, &k, &v, 0) :
		    mdb_del(txn, c->dbi, &k, NULL);
		if (rc != 0 && !(kind == OP_DEL && rc == MDB_NOTFOUND))
			return rc;
	}
	return 0;
}

static int
grow(struct ckpt *c)
{
	size_t cur = ckpt_map_size(c);
	int rc;

	if (cur == 0 || cur > SIZE_MAX / 2)
		return MDB_MAP_FULL;
	if ((rc = mdb_env_set_mapsize(c->env, cur * 2)) == 0)
		log_info("ckpt: map of %s was full, grown to %zu KiB", c->dir, (cur * 2) >> 10);
	return rc;
}

int
ckpt_commit(struct ckpt *c, struct ckpt_batch *b)
{
	MDB_txn *txn;
	int rc = MDB_MAP_FULL;

	if (b->count == 0)
		return 0;
	for (int tries = 0; rc == MDB_MAP_FULL && tries <= CKPT_MAX_GROWTHS; tries++) {
		if (tries > 0 && (rc = grow(c)) != 0)
			break;
		drop_stale_readers(c);
		if (txn_begin(c, 0, &txn) != 0)
			return -1;
		if ((rc = apply(c, txn, b)) == 0)
			rc = mdb_txn_commit(txn);	/* frees txn, also on failure */
		else
			mdb_txn_abort(txn);
	}
	if (rc == APPLY_BAD_OP) {
		log_error("%s: %s: batch holds a refused key (logged when it was added)",
		    __func__, c->dir);
		return -1;
	}
	if (rc != 0) {
		log_error("%s: %s: %s", __func__, c->dir, mdb_strerror(rc));
		return -1;
	}
	buf_reset(&b->ops);
	b->count = 0;
	return 0;
}
