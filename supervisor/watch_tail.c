/*
 * watch_tail: follow a jsonl sink's table directory, <dir>/<segment>.jsonl
 * with segments named %020llu, so lexical (= numeric) order is event order.
 * Only complete lines are applied; a partial one waits for its newline.  The
 * sink moves to a new segment only after the old one is complete, so a later
 * segment seen (with the open one at its end) means: go on there.  A segment
 * that shrinks below what was read, vanishes or is replaced (the sink's
 * recovery cuts back uncommitted output) restarts the reading from scratch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/watch.h"

#define TAIL_CHUNK	(1024 * 1024)	/* bytes per read */

void
watch_tail_init(struct watch_tail *w, const char *dir)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	w->fd = -1;
}

void
watch_tail_close(struct watch_tail *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	buf_free(&w->part);
}

/* The segment number of a file name, 0 if it is none. */
static uint64_t
seg_of(const char *name)
{
	uint64_t seg = 0;

	if (strlen(name) != 26 || strcmp(name + 20, ".jsonl") != 0)
		return 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		seg = seg * 10 + (uint64_t)(name[i] - '0');
	}
	return seg;
}

/* The first segment after `after` in the directory, 0 if none (yet). */
static uint64_t
next_seg(const struct watch_tail *w, uint64_t after)
{
	struct dirent *de;
	uint64_t best = 0, s;
	DIR *d;

	if ((d = opendir(w->dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if ((s = seg_of(de->d_name)) > after && (best == 0 || s < best))
			best = s;
	closedir(d);
	return best;
}

static void
seg_path(const struct watch_tail *w, uint64_t seg, char *out, size_t len)
{
	snprintf(out, len, "%s/%020llu.jsonl", w->dir, (unsigned long long)seg);
}

/* Open segment seg; 0, or -1 if it cannot be opened (now). */
static int
open_seg(struct watch_tail *w, uint64_t seg)
{
	char path[PATH_MAX + 32];
	struct stat st;

	seg_path(w, seg, path, sizeof(path));
	if ((w->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(w->fd, &st) < 0) {
		close(w->fd);
		w->fd = -1;
		return -1;
	}
	w->seg = seg;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->off = 0;
	buf_reset(&w->part);
	return 0;
}

/* The open segment's size, or -1 if its path no longer names it or it was
 * cut below what was read. */
static long long
seg_size(const struct watch_tail *w)
{
	char path[PATH_MAX + 32];
	struct stat st;

	seg_path(w, w->seg, path, sizeof(path));
	if (stat(path, &st) < 0 || st.st_dev != w->dev || st.st_ino != w->ino ||
	    (uint64_t)st.st_size < w->off)
		return -1;
	return (long long)st.st_size;
}

static void
restart(struct watch_tail *w, struct watch_table *t)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->seg = 0;
	w->off = 0;
	buf_reset(&w->part);
	w->restarts++;
	watch_table_clear(t);
}

/* Apply the complete lines in w->part; keep the partial rest. */
static void
apply_lines(struct watch_tail *w, struct watch_table *t)
{
	const char *p = (const char *)w->part.data, *end = p + w->part.len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		watch_table_apply(t, p, (size_t)(nl - p));
		p = nl + 1;
	}
	w->part.len = (size_t)(end - p);
	memmove(w->part.data, p, w->part.len);
}

/* Read up to n new bytes of the open segment. */
static long
read_more(struct watch_tail *w, struct watch_table *t, size_t n)
{
	ssize_t r;

	buf_reserve(&w->part, n);
	do
		r = pread(w->fd, w->part.data + w->part.len, n, (off_t)w->off);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	w->part.len += (size_t)r;
	w->off += (uint64_t)r;
	apply_lines(w, t);
	return r;
}

/* At the end of the open segment: move to the next one if there is one.
 * 1 moved, 0 stay (no later segment, or the open one grew meanwhile). */
static int
advance(struct watch_tail *w, struct watch_table *t)
{
	uint64_t later = next_seg(w, w->seg);
	long long size;

	if (later == 0 || (size = seg_size(w)) < 0 || (uint64_t)size > w->off)
		return 0;
	if (w->part.len > 0) {
		t->bad++;
		snprintf(t->why_bad, sizeof(t->why_bad), "segment %llu ends in an incomplete line",
		    (unsigned long long)w->seg);
	}
	close(w->fd);
	w->fd = -1;
	return open_seg(w, later) == 0;
}

int
watch_tail_poll(struct watch_tail *w, struct watch_table *t, size_t budget)
{
	size_t done = 0;
	int restarts = 0;
	long long size;
	long r;

	for (;;) {
		if (w->fd < 0) {
			uint64_t next = next_seg(w, w->seg);

			if (next == 0 || open_seg(w, next) < 0)
				return 0;	/* no segment yet */
		}
		if ((size = seg_size(w)) < 0) {
			if (++restarts > 3)
				return 1;
			restart(w, t);
			continue;
		}
		if ((uint64_t)size > w->off) {
			size_t n = (uint64_t)size - w->off;

			if (done >= budget)
				return 1;
			n = n < TAIL_CHUNK ? n : TAIL_CHUNK;
			n = n < budget - done ? n : budget - done;
			if ((r = read_more(w, t, n)) < 0)
				return 0;
			done += (size_t)r;
			continue;
		}
		if (!advance(w, t))
			return w->fd < 0 ? 1 : 0;
	}
}
