/*
 * jsonl: Debezium JSON lines in <dir>/<schema>.<table>/<segment>.jsonl,
 * segments named %020llu so lexical order is event order.
 * Exactly once: data is fsync'd before its (segment, offset) is committed to
 * LMDB together with the slot position; at open, anything past the committed
 * offset (and any later segment) is cut away, so a crash can neither lose a
 * committed transaction nor leave half of one.
 * Files are found by name in a map and only those written since the last
 * flush (the dirty list) are looked at by idle and flush: the cost per change
 * and per pause does not grow with the number of tables.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/util.h"
#include "sink/sink.h"

#define JSONL_WRITE_AT	(1024 * 1024)	/* pending bytes of all files, at most... */
#define JSONL_WRITE_MIN	4096		/* ... unless each has less than this */
#define JSONL_KEEP	(64 * 1024)	/* a clean file keeps a buffer this big */
#define JSONL_SPACE_RESUME (16ULL << 20)	/* free bytes to resume after ENOSPC */

struct jfile {
	char		 name[300];	/* directory name: escaped schema.table */
	int		 fd;
	uint64_t	 seg;
	uint64_t	 committed_seg;	/* (segment, offset) recorded in LMDB */
	uint64_t	 committed;
	uint64_t	 boundary;	/* end of the last complete transaction */
	uint64_t	 written;	/* bytes in the file */
	struct buf	 pending;	/* rendered, not yet written */
	/* Name of the slot whose open transaction wrote here ("" none); not a
	 * pointer: the core's slot table moves when it grows. */
	char		 owner[sizeof(((struct sink_slot *)0)->name)];
	uint64_t	 txn_events;	/* events of the open transaction written here */
	int		 dirty;		/* on the dirty list */
	struct jfile	*next;
};

struct jsonl {
	char		 dir[PATH_MAX];
	mode_t		 fmode, dmode;	/* output_mode; dirs add x where it has r */
	struct jfile	*files;		/* list of all, by name in byname */
	struct strmap	 byname;
	struct jfile	**dirty;	/* written since the last flush */
	size_t		 ndirty, capdirty;
	struct jfile	*last;		/* one-entry cache for runs of one table */
	const struct rel *last_rel;
	uint64_t	 last_gen;	/* sink rel_gen when last was cached */
	struct jfile	**touched;	/* files written by open transactions */
	size_t		 ntouched, cap;
};

struct jrec {		/* LMDB value of sink/<sink>/file/<name> */
	uint8_t		seg[8];
	uint8_t		off[8];
};

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* snprintf into a path buffer; -1 (logged) if it does not fit. */
static int __attribute__((format(printf, 3, 4)))
jpath(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		log_error("path too long: %s...", out);
		return -1;
	}
	return 0;
}

/* "schema.table" with '/' and '%' escaped so it is one path component; a
 * leading '.' or '@' too ("@..." names pgcdc's own streams). */
static void
dir_name(const struct rel *rel, char *out, size_t len)
{
	char raw[300];
	size_t o = 0;

	snprintf(raw, sizeof(raw), "%s.%s", rel->schema, rel->table);
	for (const char *p = raw; *p && o + 4 < len; p++) {
		if (*p == '/' || *p == '%' || (p == raw && (*p == '.' || *p == '@')))
			o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

static int
file_key(struct sink *s, const char *name, char *key, size_t len)
{
	int n = snprintf(key, len, "sink/%s/file/%s", s->conf->name, name);

	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static int
seg_path(struct jsonl *j, const char *name, uint64_t seg, char *out, size_t len)
{
	return jpath(out, len, "%s/%s/%020llu.jsonl", j->dir, name,
	    (unsigned long long)seg);
}

static int
write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			log_error("write %s: %s%s", what, strerror(errno), errno == ENOSPC ?
			    "; fix: free space there, pgcdc resumes where it stopped" : "");
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
file_write_pending(struct jsonl *j, struct jfile *f)
{
	char what[PATH_MAX];

	if (f->pending.len == 0)
		return 0;
	if (jpath(what, sizeof(what), "%s/%s", j->dir, f->name) < 0 ||
	    write_all(f->fd, f->pending.data, f->pending.len, what) < 0)
		return -1;
	f->written += f->pending.len;
	buf_reset(&f->pending);
	return 0;
}

static int
file_open_seg(struct jsonl *j, struct jfile *f)
{
	char path[PATH_MAX], tdir[PATH_MAX];
	struct stat st;
	int created;

	if (jpath(tdir, sizeof(tdir), "%s/%s", j->dir, f->name) < 0 ||
	    util_mkdir_p(tdir, (int)j->dmode) < 0 ||
	    seg_path(j, f->name, f->seg, path, sizeof(path)) < 0)
		return -1;
	created = access(path, F_OK) != 0;
	f->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, j->fmode);
	/* The umask may narrow a new file; output_mode may have changed. */
	if (f->fd < 0 || fstat(f->fd, &st) < 0 ||
	    ((st.st_mode & 07777) != j->fmode && fchmod(f->fd, j->fmode) < 0)) {
		log_error("open %s: %s", path, strerror(errno));
		return -1;
	}
	if ((uint64_t)st.st_size != f->written) {
		log_error("%s has %lld bytes, %llu committed: the file was changed "
		    "behind pgcdc's back", path, (long long)st.st_size,
		    (unsigned long long)f->written);
		return -1;
	}
	return created ? util_fsync_dir(tdir) : 0;
}

/* The open file of directory name, opened (and its LMDB record read) on
 * first use. */
static struct jfile *
file_named(struct sink *s, const char *name)
{
	struct jsonl *j = s->impl;
	char key[CKPT_KEY_MAX + 1];
	struct jrec rec;
	size_t len = sizeof(rec);
	struct jfile *f;
	int found;

	if ((f = strmap_get(&j->byname, name)) != NULL)
		return f;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->seg = 1;
	if (file_key(s, name, key, sizeof(key)) < 0 ||
	    (found = ckpt_get(s->ck, key, &rec, &len)) < 0)
		goto fail;
	if (found && len == sizeof(rec)) {
		f->seg = get_be64(rec.seg);
		f->written = get_be64(rec.off);
	}
	f->committed_seg = f->seg;
	f->committed = f->boundary = f->written;
	if (file_open_seg(j, f) < 0)
		goto fail;
	f->next = j->files;
	j->files = f;
	strmap_put(&j->byname, f->name, f);
	return f;
fail:
	free(f);
	return NULL;
}

static struct jfile *
file_get(struct sink *s, const struct rel *rel)
{
	struct jsonl *j = s->impl;
	char name[300];
	struct jfile *f;

	if (j->last && j->last_rel == rel && j->last_gen == s->rel_gen)
		return j->last;
	dir_name(rel, name, sizeof(name));
	if ((f = file_named(s, name)) == NULL)
		return NULL;
	j->last = f;
	j->last_rel = rel;
	j->last_gen = s->rel_gen;
	return f;
}

static int
rotate(struct sink *s, struct jfile *f)
{
	struct jsonl *j = s->impl;

	if (file_write_pending(j, f) < 0 || fdatasync(f->fd) < 0)
		return -1;
	close(f->fd);
	f->seg++;
	f->written = f->boundary = 0;
	return file_open_seg(j, f);
}

/* First write of an open transaction into f. */
static int
touch(struct sink *s, struct sink_slot *sl, struct jfile *f)
{
	struct jsonl *j = s->impl;

	if (strcmp(f->owner, sl->name) == 0)
		return 0;
	if (!f->dirty) {
		if (j->ndirty == j->capdirty) {
			j->capdirty = j->capdirty ? 2 * j->capdirty : 16;
			if ((j->dirty = realloc(j->dirty, j->capdirty * sizeof(*j->dirty))) == NULL)
				fatal(1, "%s: out of memory", __func__);
		}
		j->dirty[j->ndirty++] = f;
		f->dirty = 1;
	}
	if (f->owner[0] != '\0') {
		log_error("table %s is written by slots %s and %s at once; fix: give "
		    "each table to one slot", f->name, f->owner, sl->name);
		return -1;
	}
	if (f->boundary >= (uint64_t)s->conf->segment_bytes && rotate(s, f) < 0)
		return -1;
	if (j->ntouched == j->cap) {
		j->cap = j->cap ? 2 * j->cap : 16;
		if ((j->touched = realloc(j->touched, j->cap * sizeof(*j->touched))) == NULL)
			fatal(1, "%s: out of memory", __func__);
	}
	j->touched[j->ntouched++] = f;
	snprintf(f->owner, sizeof(f->owner), "%s", sl->name);
	return 0;
}

/* The file of change c: its table's, or "@messages.<slot>" for op m. */
static struct jfile *
file_of(struct sink *s, struct sink_slot *sl, const struct sink_change *c)
{
	char name[96];
	struct jfile *f;

	if (c->op == 'm') {
		snprintf(name, sizeof(name), "@messages.%s", sl->name);
		f = file_named(s, name);
	} else {
		f = file_get(s, c->rel);
	}
	return f == NULL || touch(s, sl, f) < 0 ? NULL : f;
}

/* Commit time (PostgreSQL epoch, us) in Unix ms. */
static long long
ts_ms(int64_t pg_us)
{
	return (long long)((pg_us + PGO_EPOCH_OFFSET_US) / 1000);
}

static void
txn_reset(struct jsonl *j, const struct sink_slot *sl)
{
	for (size_t i = 0; i < j->ntouched; i++)
		if (strcmp(j->touched[i]->owner, sl->name) == 0)
			j->touched[i]->txn_events = 0;
}

/* transactions = true: the open transaction's BEGIN before its first
 * event, and the event's "transaction" block (f: the event's file). */
static int
txn_event(struct sink *s, struct sink_slot *sl, struct jfile *f)
{
	char name[96];
	struct jfile *tf;

	snprintf(name, sizeof(name), "@transactions.%s", sl->name);
	if ((tf = file_named(s, name)) == NULL || touch(s, sl, tf) < 0)
		return -1;
	if (tf->txn_events == 0) {
		buf_printf(&tf->pending, "{\"status\":\"BEGIN\",\"id\":\"%u:%llu\",\"ts_ms\":%lld,"
		    "\"event_count\":null,\"data_collections\":null}\n", sl->xid,
		    (unsigned long long)sl->final_lsn, ts_ms(sl->commit_ts));
	}
	tf->txn_events++;
	f->txn_events++;
	f->pending.len--;	/* reopen the event's object */
	buf_printf(&f->pending, ",\"transaction\":{\"id\":\"%u:%llu\",\"total_order\":%llu,"
	    "\"data_collection_order\":%llu}}", sl->xid, (unsigned long long)sl->final_lsn,
	    (unsigned long long)tf->txn_events, (unsigned long long)f->txn_events);
	return 0;
}

/* At the commit: END with the count per table; counters start again. */
static void
txn_end(struct sink *s, struct sink_slot *sl)
{
	struct jsonl *j = s->impl;
	struct jfile *tf = NULL;
	int first = 1;

	for (size_t i = 0; i < j->ntouched; i++)
		if (strcmp(j->touched[i]->owner, sl->name) == 0 &&
		    strncmp(j->touched[i]->name, "@transactions.", 14) == 0)
			tf = j->touched[i];
	if (tf != NULL && tf->txn_events > 0) {
		buf_printf(&tf->pending, "{\"status\":\"END\",\"id\":\"%u:%llu\",\"ts_ms\":%lld,"
		    "\"event_count\":%llu,\"data_collections\":[", sl->xid,
		    (unsigned long long)sl->final_lsn, ts_ms(sl->commit_ts),
		    (unsigned long long)tf->txn_events);
		for (size_t i = 0; i < j->ntouched; i++) {
			struct jfile *f = j->touched[i];

			if (strcmp(f->owner, sl->name) != 0 || f == tf || f->txn_events == 0)
				continue;
			buf_puts(&tf->pending, first ? "{\"data_collection\":" : ",{\"data_collection\":");
			json_str(&tf->pending, f->name, strlen(f->name));
			buf_printf(&tf->pending, ",\"event_count\":%llu}", (unsigned long long)f->txn_events);
			first = 0;
		}
		buf_puts(&tf->pending, "]}\n");
	}
	txn_reset(j, sl);
}

/* A failed write: out of space is waited out (jsonl_unavailable). */
static int
write_failed(struct sink *s)
{
	if (errno == ENOSPC || errno == EDQUOT)
		s->out_of_space = 1;
	return -1;
}

/* The input paused: lines are written at once, fsync'd at the flush. */
static int
jsonl_idle(struct sink *s)
{
	struct jsonl *j = s->impl;

	for (size_t i = 0; i < j->ndirty; i++)
		if (file_write_pending(j, j->dirty[i]) < 0)
			return write_failed(s);
	return 0;
}

static int
jsonl_unavailable(struct sink *s, char *why, size_t len)
{
	struct jsonl *j = s->impl;
	struct statvfs v;
	unsigned long long avail;

	if (!s->out_of_space || j == NULL || statvfs(j->dir, &v) < 0)
		return 0;
	avail = (unsigned long long)v.f_bavail * v.f_frsize;
	snprintf(why, len, "no space left in %s (%llu MiB free); fix: free space there, "
	    "the sink resumes once %llu MiB are free", j->dir, avail >> 20,
	    JSONL_SPACE_RESUME >> 20);
	return avail < JSONL_SPACE_RESUME;
}

static int
jsonl_change(struct sink *s, struct sink_slot *sl, const struct sink_change *c)
{
	struct jsonl *j = s->impl;
	struct jfile *f = file_of(s, sl, c);

	if (f == NULL)
		return write_failed(s);
	sink_json_event(s, sl, c, &f->pending);
	if (s->conf->transactions && txn_event(s, sl, f) < 0)
		return write_failed(s);
	buf_putc(&f->pending, '\n');
	/* The budget is shared by the files being written: memory does not
	 * grow with the tables a transaction touches. */
	if (f->pending.len >= JSONL_WRITE_MIN && f->pending.len >= JSONL_WRITE_AT / j->ndirty &&
	    file_write_pending(j, f) < 0)
		return write_failed(s);
	return 0;
}

/* Apply fn to the files of sl's open transaction and drop them from the list. */
static void
release(struct jsonl *j, struct sink_slot *sl, void (*fn)(struct jsonl *, struct jfile *))
{
	size_t keep = 0;

	for (size_t i = 0; i < j->ntouched; i++) {
		struct jfile *f = j->touched[i];

		if (strcmp(f->owner, sl->name) != 0) {
			j->touched[keep++] = f;
			continue;
		}
		fn(j, f);
		f->owner[0] = '\0';
	}
	j->ntouched = keep;
}

static void
mark_boundary(struct jsonl *j, struct jfile *f)
{
	(void)j;
	f->boundary = f->written + f->pending.len;
}

static void
cut_back(struct jsonl *j, struct jfile *f)
{
	if (f->boundary >= f->written) {
		f->pending.len = f->boundary - f->written;
		return;
	}
	buf_reset(&f->pending);
	if (ftruncate(f->fd, (off_t)f->boundary) < 0)
		fatal(1, "truncate %s/%s: %s", j->dir, f->name, strerror(errno));
	f->written = f->boundary;
}

static int
jsonl_commit(struct sink *s, struct sink_slot *sl)
{
	if (s->conf->transactions)
		txn_end(s, sl);
	release(s->impl, sl, mark_boundary);
	return 0;
}

static void
jsonl_rollback(struct sink *s, struct sink_slot *sl)
{
	txn_reset(s->impl, sl);
	release(s->impl, sl, cut_back);
}

static int
jsonl_flush(struct sink *s, struct ckpt_batch *batch)
{
	struct jsonl *j = s->impl;
	char key[CKPT_KEY_MAX + 1];
	struct jrec rec;
	size_t keep = 0, share;

	for (size_t i = 0; i < j->ndirty; i++) {
		struct jfile *f = j->dirty[i];

		if (f->boundary == f->committed && f->seg == f->committed_seg)
			continue;
		if (file_write_pending(j, f) < 0 || fdatasync(f->fd) < 0) {
			log_error("sync %s/%s: %s", j->dir, f->name, strerror(errno));
			return write_failed(s);
		}
		/* Never record an offset past what was written (a file found
		 * shorter than LMDB's offset at the next open stops the sink). */
		if (f->boundary > f->written) {
			log_error("%s/%s: %llu bytes written, %llu to commit: not recording it "
			    "(a bug; please report)", j->dir, f->name,
			    (unsigned long long)f->written, (unsigned long long)f->boundary);
			return -1;
		}
		put_be64(rec.seg, f->seg);
		put_be64(rec.off, f->boundary);
		if (file_key(s, f->name, key, sizeof(key)) < 0)
			return -1;
		ckpt_put(batch, key, &rec, sizeof(rec));
		f->committed_seg = f->seg;
		f->committed = f->boundary;
	}
	/* Still dirty: what an open transaction wrote (or holds pending).  A
	 * buffer far over its file's share of the budget goes (the one table
	 * of a busy stream keeps its own). */
	share = JSONL_WRITE_AT / (j->ndirty ? j->ndirty : 1);
	for (size_t i = 0; i < j->ndirty; i++) {
		struct jfile *f = j->dirty[i];

		if (f->owner[0] != '\0' || f->pending.len > 0 || f->boundary != f->committed ||
		    f->seg != f->committed_seg) {
			j->dirty[keep++] = f;
			continue;
		}
		f->dirty = 0;
		if (f->pending.cap > JSONL_KEEP && f->pending.cap > 2 * share)
			buf_free(&f->pending);
	}
	j->ndirty = keep;
	return 0;
}

/* Recovery of one table directory against its LMDB record. */
static int
recover_dir(struct sink *s, const char *name)
{
	struct jsonl *j = s->impl;
	char key[CKPT_KEY_MAX + 1], path[PATH_MAX], tdir[PATH_MAX];
	uint64_t cseg = 0, coff = 0;
	struct jrec rec;
	size_t len = sizeof(rec);
	struct dirent *de;
	DIR *d;
	int found, rc = 0;

	if (file_key(s, name, key, sizeof(key)) < 0 ||
	    (found = ckpt_get(s->ck, key, &rec, &len)) < 0)
		return -1;
	if (found && len == sizeof(rec)) {
		cseg = get_be64(rec.seg);
		coff = get_be64(rec.off);
	}
	if (jpath(tdir, sizeof(tdir), "%s/%s", j->dir, name) < 0)
		return -1;
	if ((d = opendir(tdir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && rc == 0) {
		unsigned long long seg;
		char tail[8];

		if (sscanf(de->d_name, "%20llu%7s", &seg, tail) != 2 || strcmp(tail, ".jsonl"))
			continue;
		seg_path(j, name, seg, path, sizeof(path));
		if (seg > cseg) {
			log_info("recovery: removing uncommitted %s", path);
			rc = unlink(path);
		} else if (seg == cseg) {
			struct stat st;

			if (stat(path, &st) < 0 || (uint64_t)st.st_size < coff) {
				log_error("recovery: %s is shorter than its committed %llu "
				    "bytes: output was lost outside pgcdc", path,
				    (unsigned long long)coff);
				rc = -1;
			} else if ((uint64_t)st.st_size > coff) {
				log_info("recovery: cutting %s back to %llu bytes", path,
				    (unsigned long long)coff);
				rc = truncate(path, (off_t)coff);
			}
		}
	}
	closedir(d);
	return rc;
}

static int
jsonl_open(struct sink *s)
{
	struct jsonl *j = calloc(1, sizeof(*j));
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (j == NULL)
		return -1;
	s->impl = j;
	j->fmode = (mode_t)(s->conf->output_mode ? s->conf->output_mode : 0600);
	j->dmode = j->fmode | ((j->fmode & 0444) >> 2);
	if (jpath(j->dir, sizeof(j->dir) - 600, "%s", s->conf->dir) < 0 ||
	    util_mkdir_p(j->dir, (int)j->dmode) < 0 || (d = opendir(j->dir)) == NULL) {
		log_error("jsonl dir %s: %s", j->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && rc == 0)
		if (de->d_name[0] != '.')
			rc = recover_dir(s, de->d_name);
	closedir(d);
	return rc;
}

static void
jsonl_close(struct sink *s)
{
	struct jsonl *j = s->impl;
	struct jfile *n;

	if (j == NULL)
		return;
	for (struct jfile *f = j->files; f; f = n) {
		n = f->next;
		close(f->fd);
		buf_free(&f->pending);
		free(f);
	}
	free(j->touched);
	free(j->dirty);
	strmap_free(&j->byname);
	free(j);
	s->impl = NULL;
}

const struct sink_ops sink_jsonl_ops = {
	.type = "jsonl",
	.open = jsonl_open,
	.change = jsonl_change,
	.commit = jsonl_commit,
	.rollback = jsonl_rollback,
	.flush = jsonl_flush,
	.idle = jsonl_idle,
	.close = jsonl_close,
	.unavailable = jsonl_unavailable,
};
