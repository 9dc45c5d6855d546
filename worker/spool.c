/*
 * spool: streamed transactions on disk until their commit (see spool.h).
 * A record is [u32 len][u64 wal LSN][len bytes: the protocol v1 message].
 * Per transaction the offset where each subtransaction's first change
 * begins, so that rolling one back truncates the file there (as
 * PostgreSQL's own apply worker does).  Offsets count buffered bytes too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/spool.h"

#define SPOOL_WBUF	(256 * 1024)	/* write once this much is buffered */
#define SPOOL_RBUF	(256 * 1024)	/* read ahead */
#define SPOOL_HDR	12

struct spool_sub {
	uint32_t	subxid;
	uint64_t	off;
};

struct spool_txn {
	uint32_t	  xid;
	uint64_t	  size;		/* file bytes, buffered ones included */
	struct spool_sub *subs;
	size_t		  nsubs, cap;
};

static void
path_of(const struct spool *sp, uint32_t xid, char *p, size_t n)
{
	snprintf(p, n, "%s/%u", sp->dir, xid);
}

static int
remove_all(struct spool *sp)
{
	DIR *d = opendir(sp->dir);
	struct dirent *e;
	char p[sizeof(sp->dir) + 260];

	if (d == NULL) {
		log_error("%s: %s: %s", __func__, sp->dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", sp->dir, e->d_name);
		if (unlink(p) < 0 && errno != ENOENT)
			log_warn("%s: unlink %s: %s", __func__, p, strerror(errno));
	}
	closedir(d);
	return 0;
}

int
spool_open(struct spool *sp, const char *state_dir, const char *slot)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = sp->rfd = -1;
	if ((size_t)snprintf(sp->dir, sizeof(sp->dir), "%s/spool/%s", state_dir,
	    slot) >= sizeof(sp->dir)) {
		log_error("%s: state_dir too long", __func__);
		return -1;
	}
	if (util_mkdir_p(sp->dir, 0700) < 0)
		return -1;
	return remove_all(sp);
}

/* Out of the table (the last entry moves into its place). */
static void
txn_drop(struct spool *sp, struct spool_txn *t)
{
	struct spool_txn *last = &sp->txns[--sp->ntxns];

	free(t->subs);
	if (sp->cur == t)
		sp->cur = NULL;
	if (t != last) {
		*t = *last;
		if (sp->cur == last)
			sp->cur = t;
	}
}

static void
txn_forget(struct spool *sp, struct spool_txn *t)
{
	char p[sizeof(sp->dir) + 16];

	path_of(sp, t->xid, p, sizeof(p));
	if (unlink(p) < 0 && errno != ENOENT)
		log_warn("%s: unlink %s: %s", __func__, p, strerror(errno));
	txn_drop(sp, t);
}

static void
replay_end(struct spool *sp)
{
	char p[sizeof(sp->dir) + 16];

	if (sp->rfd < 0)
		return;
	close(sp->rfd);
	sp->rfd = -1;
	path_of(sp, sp->rxid, p, sizeof(p));
	unlink(p);
	buf_reset(&sp->rbuf);
	sp->rpos = 0;
}

int
spool_reset(struct spool *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sp->cur = NULL;
	buf_reset(&sp->wbuf);
	replay_end(sp);
	while (sp->ntxns > 0)
		txn_forget(sp, &sp->txns[0]);
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (sp->dir[0] == '\0')
		return;
	spool_reset(sp);
	free(sp->txns);
	buf_free(&sp->wbuf);
	buf_free(&sp->rbuf);
	memset(sp, 0, sizeof(*sp));
	sp->fd = sp->rfd = -1;
}

static struct spool_txn *
txn_find(struct spool *sp, uint32_t xid)
{
	for (size_t i = 0; i < sp->ntxns; i++)
		if (sp->txns[i].xid == xid)
			return &sp->txns[i];
	return NULL;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
wflush(struct spool *sp)
{
	if (sp->wbuf.len == 0)
		return 0;
	if (write_all(sp->fd, sp->wbuf.data, sp->wbuf.len) < 0) {
		log_error("%s: write %s/%u: %s", __func__, sp->dir, sp->cur->xid,
		    strerror(errno));
		return -1;
	}
	buf_reset(&sp->wbuf);
	return 0;
}

int
spool_start(struct spool *sp, uint32_t xid, int first)
{
	struct spool_txn *t = txn_find(sp, xid);
	char p[sizeof(sp->dir) + 16];

	if (t == NULL && !first) {
		log_error("%s: transaction %u streams on, but its start was not seen",
		    __func__, xid);
		return -1;
	}
	if (t == NULL) {
		if (sp->ntxns == sp->cap) {
			sp->cap = sp->cap ? 2 * sp->cap : 16;
			if ((sp->txns = realloc(sp->txns, sp->cap * sizeof(*t))) == NULL)
				fatal(1, "%s: out of memory", __func__);
		}
		t = &sp->txns[sp->ntxns++];
		memset(t, 0, sizeof(*t));
		t->xid = xid;
	}
	if (first) {	/* PostgreSQL streams it again from the start */
		t->size = 0;
		t->nsubs = 0;
	}
	path_of(sp, xid, p, sizeof(p));
	sp->fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (first ? O_TRUNC : 0), 0600);
	if (sp->fd < 0) {
		log_error("%s: open %s: %s", __func__, p, strerror(errno));
		return -1;
	}
	sp->cur = t;
	return 0;
}

/* Where subxid's changes begin: recorded at its first change. */
static void
sub_note(struct spool_txn *t, uint32_t subxid)
{
	if (subxid == t->xid || (t->nsubs > 0 && t->subs[t->nsubs - 1].subxid == subxid))
		return;
	for (size_t i = 0; i < t->nsubs; i++)
		if (t->subs[i].subxid == subxid)
			return;
	if (t->nsubs == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 8;
		if ((t->subs = realloc(t->subs, t->cap * sizeof(*t->subs))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	t->subs[t->nsubs++] = (struct spool_sub){ subxid, t->size };
}

int
spool_add(struct spool *sp, uint32_t subxid, lsn_t wal, const uint8_t *type,
    const uint8_t *body, size_t blen)
{
	struct spool_txn *t = sp->cur;
	uint8_t hdr[SPOOL_HDR];
	uint32_t len = (uint32_t)(blen + 1);

	if (t == NULL || blen >= UINT32_MAX) {
		log_error("%s: %s", __func__, t ? "message too big" : "outside a stream");
		return -1;
	}
	if (subxid != 0)
		sub_note(t, subxid);
	memcpy(hdr, &len, 4);
	memcpy(hdr + 4, &wal, 8);
	buf_append(&sp->wbuf, hdr, sizeof(hdr));
	buf_append(&sp->wbuf, type, 1);
	buf_append(&sp->wbuf, body, blen);
	t->size += SPOOL_HDR + (uint64_t)len;
	sp->bytes += SPOOL_HDR + (uint64_t)len;
	return sp->wbuf.len >= SPOOL_WBUF ? wflush(sp) : 0;
}

int
spool_stop(struct spool *sp)
{
	int rc = 0;

	if (sp->cur == NULL)
		return 0;
	rc = wflush(sp);
	close(sp->fd);
	sp->fd = -1;
	sp->cur = NULL;
	return rc;
}

int
spool_abort(struct spool *sp, uint32_t xid, uint32_t subxid)
{
	struct spool_txn *t = txn_find(sp, xid);
	char p[sizeof(sp->dir) + 16];
	size_t i;

	if (t == NULL)
		return 0;	/* nothing of it was streamed */
	if (sp->cur == t && spool_stop(sp) < 0)
		return -1;
	if (subxid == xid) {
		txn_forget(sp, t);
		return 0;
	}
	for (i = t->nsubs; i > 0 && t->subs[i - 1].subxid != subxid; i--)
		;
	if (i == 0)
		return 0;	/* the subxact made no change we hold */
	t->size = t->subs[i - 1].off;
	t->nsubs = i - 1;
	path_of(sp, xid, p, sizeof(p));
	if (truncate(p, (off_t)t->size) < 0) {
		log_error("%s: truncate %s: %s", __func__, p, strerror(errno));
		return -1;
	}
	return 0;
}

int
spool_replay(struct spool *sp, uint32_t xid)
{
	struct spool_txn *t = txn_find(sp, xid);
	char p[sizeof(sp->dir) + 16];

	if (t == NULL)
		return 0;
	if (sp->cur == t && spool_stop(sp) < 0)
		return -1;
	path_of(sp, xid, p, sizeof(p));
	txn_drop(sp, t);
	if ((sp->rfd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("%s: open %s: %s", __func__, p, strerror(errno));
		return -1;
	}
	sp->rxid = xid;
	buf_reset(&sp->rbuf);
	sp->rpos = 0;
	return 0;
}

int
spool_replaying(const struct spool *sp)
{
	return sp->rfd >= 0;
}

/* Make rbuf hold at least n unread bytes; 0 at a clean end of file. */
static int
fill(struct spool *sp, size_t n)
{
	size_t have = sp->rbuf.len - sp->rpos;

	if (have >= n)
		return 1;
	if (have > 0)
		memmove(sp->rbuf.data, sp->rbuf.data + sp->rpos, have);
	sp->rbuf.len = have;
	sp->rpos = 0;
	buf_reserve(&sp->rbuf, (n > SPOOL_RBUF ? n : SPOOL_RBUF) - have);
	while (sp->rbuf.len < n) {
		ssize_t r = read(sp->rfd, sp->rbuf.data + sp->rbuf.len,
		    sp->rbuf.cap - sp->rbuf.len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_error("%s: read %s/%u: %s", __func__, sp->dir, sp->rxid,
			    strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (sp->rbuf.len == 0)
				return 0;
			log_error("%s: %s/%u ends inside a record", __func__, sp->dir,
			    sp->rxid);
			return -1;
		}
		sp->rbuf.len += (size_t)r;
	}
	return 1;
}

int
spool_next(struct spool *sp, lsn_t *wal, const uint8_t **data, size_t *len)
{
	uint32_t n;
	int rc;

	if (sp->rfd < 0)
		return 0;
	if ((rc = fill(sp, SPOOL_HDR)) <= 0) {
		replay_end(sp);
		return rc;
	}
	memcpy(&n, sp->rbuf.data + sp->rpos, 4);
	memcpy(wal, sp->rbuf.data + sp->rpos + 4, 8);
	if (fill(sp, SPOOL_HDR + (size_t)n) <= 0) {
		replay_end(sp);
		return -1;
	}
	*data = sp->rbuf.data + sp->rpos + SPOOL_HDR;
	*len = n;
	sp->rpos += SPOOL_HDR + (size_t)n;
	return 1;
}
