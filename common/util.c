/*
 * util: filesystem and clock helpers.  util_mkdir_p and util_fsync_dir log
 * their failures; util_read_file does not (a missing pidfile is normal) and
 * leaves errno set for the caller to report.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* mkdir that accepts an existing directory (and nothing else). */
static int
make_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST) {
		log_error("%s: mkdir %s: %s", "util_mkdir_p", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("%s: %s exists and is not a directory", "util_mkdir_p", path);
		return -1;
	}
	return 0;
}

int
util_mkdir_p(const char *path, int mode)
{
	char p[PATH_MAX];
	size_t n = path ? strlen(path) : 0;
	struct stat st;

	if (n == 0 || n >= sizeof(p)) {
		log_error("%s: bad path \"%s\"", __func__, path ? path : "");
		return -1;
	}
	memcpy(p, path, n + 1);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	/* Parents get mode plus owner rwx, so that we can create inside them. */
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (make_dir(p, (mode_t)mode | S_IRWXU) < 0)
			return -1;
		*s = '/';
	}
	if (make_dir(p, (mode_t)mode) < 0)
		return -1;
	/* umask may have narrowed a new dir; an old one may be too open. */
	if (stat(p, &st) < 0 || ((st.st_mode & 07777) != ((mode_t)mode & 07777) &&
	    chmod(p, (mode_t)mode) < 0)) {
		log_error("%s: chmod %s %04o: %s", __func__, p, (unsigned)mode, strerror(errno));
		return -1;
	}
	return 0;
}

int
util_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		log_error("%s: open %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	if (fsync(fd) < 0) {
		log_error("%s: fsync %s: %s", __func__, path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
int64_t util_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

long
util_read_file(const char *path, char *buf, size_t len)
{
	int fd, saved;
	size_t n = 0;
	ssize_t r;

	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((r = read(fd, buf + n, len - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (n += (size_t)r) == len) {
			saved = r < 0 ? errno : EFBIG;	/* no room for the NUL */
			close(fd);
			explicit_bzero(buf, len);	/* it may hold part of a secret */
			errno = saved;
			return -1;
		}
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return (long)n;
}
