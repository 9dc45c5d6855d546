/*
 * log: one line per message, "<UTC time with ms> role[ident] pid level: text".
 * Every line goes out in a single write(2) on an O_APPEND descriptor, so the
 * supervisor and its children can share one log file without interleaving.
 * errno is preserved across log calls, so callers may log and then use it.
 * log_redact() is the only way a conninfo may reach a log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_LINE_MAX 8192	/* longer messages are cut, marked with "..." */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static struct {
	char		role[32];
	char		ident[128];
	enum log_level	level;
	int		fd;		/* -1: stderr */
	char		path[PATH_MAX];
	char		last_error[512];	/* the text of the last error line */
} L = { .role = "pgcdc", .level = LL_INFO, .fd = -1 };

void
log_init(const char *role, const char *ident)
{
	snprintf(L.role, sizeof(L.role), "%s", role ? role : "pgcdc");
	snprintf(L.ident, sizeof(L.ident), "%s", ident ? ident : "");
}

void
log_set_level(enum log_level level)
{
	L.level = level > LL_DEBUG ? LL_DEBUG : level;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		log_error("%s: open %s: %s", __func__, path, strerror(errno));
	return fd;
}

/* Switch to fd (or stderr if -1) and close the previous file. */
static void
use_fd(int fd)
{
	if (L.fd >= 0)
		close(L.fd);
	L.fd = fd;
}

int
log_set_file(const char *path)
{
	int fd;

	if (path == NULL || *path == '\0') {
		use_fd(-1);
		L.path[0] = '\0';
		return 0;
	}
	if (strlen(path) >= sizeof(L.path)) {
		log_error("%s: path too long: %s", __func__, path);
		return -1;
	}
	if ((fd = open_log(path)) < 0)
		return -1;
	use_fd(fd);
	snprintf(L.path, sizeof(L.path), "%s", path);
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (L.path[0] == '\0')
		return 0;
	/* On failure keep writing to the old (renamed) file: better than nothing. */
	if ((fd = open_log(L.path)) < 0)
		return -1;
	use_fd(fd);
	return 0;
}

/* "2026-11-23T08:40:01.123Z supervisor[inventory] 1234 info: " */
static size_t
format_prefix(char *buf, size_t len, enum log_level level)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(buf, len, "%s.%03ldZ %s%s%s%s %d %s: ", when,
	    ts.tv_nsec / 1000000L, L.role, L.ident[0] ? "[" : "", L.ident,
	    L.ident[0] ? "]" : "", (int)getpid(), level_names[level]);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

static void
write_line(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n = format_prefix(line, sizeof(line) - 1, level), body = n;
	int m = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);

	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(line) - 1 - n) {
		n = sizeof(line) - 2;
		memcpy(line + n - 3, "...", 3);
	} else {
		n += (size_t)m;
	}
	if (level == LL_ERROR)
		snprintf(L.last_error, sizeof(L.last_error), "%.*s", (int)(n - body), line + body);
	line[n++] = '\n';
	/* One write per line; a short write on a full disk is not retried. */
	if (write(L.fd >= 0 ? L.fd : STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level > L.level)
		return;
	va_start(ap, fmt);
	write_line(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

const char *
log_last_error(void)
{
	return L.last_error;
}

void
fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_line(LL_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}

/*
 * Redaction.  An output cursor that never overflows and always leaves room
 * for the terminating NUL; password values are never copied, only "***".
 */
struct out {
	char	*p;
	size_t	 len, n;
};

static void
out_put(struct out *o, const char *s, size_t n)
{
	size_t room = o->len - 1 - o->n;

	if (n > room)
		n = room;
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Is this keyword (percent-decoded when pct) one whose value is secret? */
static int
is_secret_key(const char *k, size_t n, int pct)
{
	char dec[32];
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		char c = k[i];

		if (m == sizeof(dec) - 1)
			return 0;
		if (pct && c == '%' && i + 2 < n && hexval(k[i + 1]) >= 0 &&
		    hexval(k[i + 2]) >= 0) {
			c = (char)(hexval(k[i + 1]) * 16 + hexval(k[i + 2]));
			i += 2;
		}
		dec[m++] = c;
	}
	dec[m] = '\0';
	return strcasecmp(dec, "password") == 0 || strcasecmp(dec, "sslpassword") == 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* End of a keyword=value value at s: quoted with \ escapes, or up to space. */
static const char *
kv_value_end(const char *s)
{
	if (*s == '\'') {
		for (s++; *s && *s != '\''; s++)
			if (*s == '\\' && s[1])
				s++;
		return *s ? s + 1 : s;
	}
	for (; *s && !is_space(*s); s++)
		if (*s == '\\' && s[1])
			s++;
	return s;
}

/* "host=db password = 'a b\'c' user=x": libpq's keyword=value syntax. */
static void
redact_kv(struct out *o, const char *s)
{
	while (*s) {
		const char *k = s, *ke, *v;

		if (is_space(*s)) {
			out_put(o, s++, 1);
			continue;
		}
		while (*s && !is_space(*s) && *s != '=')
			s++;
		ke = s;
		while (is_space(*s))
			s++;
		if (*s != '=') {	/* a bare word: copy it, rescan after it */
			out_put(o, k, (size_t)(ke - k));
			s = ke;
			continue;
		}
		for (v = s + 1; is_space(*v); v++)
			;
		s = kv_value_end(v);
		out_put(o, k, (size_t)(v - k));
		if (is_secret_key(k, (size_t)(ke - k), 0))
			out_put(o, "***", 3);
		else
			out_put(o, v, (size_t)(s - v));
	}
}

/* "?a=b&password=x": every value of a secret parameter becomes ***. */
static void
redact_query(struct out *o, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "&"), kn = strcspn(s, "=&");

		if (kn < n && is_secret_key(s, kn, 1)) {
			out_put(o, s, kn + 1);
			out_put(o, "***", 3);
		} else {
			out_put(o, s, n);
		}
		s += n;
		if (*s == '&')
			out_put(o, s++, 1);
	}
}

/* postgresql://user:secret@host:5432/db?password=x, split as libpq does:
 * the userinfo ends at the first '@' before any '/'. */
static void
redact_uri(struct out *o, const char *s, size_t scheme)
{
	const char *p = s + scheme, *at = p + strcspn(p, "@/"), *q;

	out_put(o, s, scheme);
	if (*at == '@') {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (colon) {
			out_put(o, p, (size_t)(colon + 1 - p));
			out_put(o, "***", 3);
		} else {
			out_put(o, p, (size_t)(at - p));
		}
		p = at;
	}
	q = strchr(p, '?');
	if (q == NULL) {
		out_put(o, p, strlen(p));
		return;
	}
	out_put(o, p, (size_t)(q + 1 - p));
	redact_query(o, q + 1);
}

char *
log_redact(const char *conninfo, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (conninfo == NULL)
		return buf;
	if (strncasecmp(conninfo, "postgresql://", 13) == 0)
		redact_uri(&o, conninfo, 13);
	else if (strncasecmp(conninfo, "postgres://", 11) == 0)
		redact_uri(&o, conninfo, 11);
	else
		redact_kv(&o, conninfo);
	return buf;
}
