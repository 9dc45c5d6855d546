/*
 * notify: systemd's readiness protocol (sd_notify) by hand, so pgcdc needs
 * no libsystemd.  sup_notify_init takes NOTIFY_SOCKET out of the environment
 * (children must not talk to systemd); each message is one datagram.
 * Without NOTIFY_SOCKET every call is a no-op.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/sup.h"

static struct sockaddr_un addr;
static socklen_t addr_len;

void
sup_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n = path ? strlen(path) : 0;

	addr_len = 0;
	if (n < 2 || n >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@')) {
		if (n > 0)
			log_warn("NOTIFY_SOCKET \"%s\" is not a unix socket path; ignored", path);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, n);
	if (path[0] == '@')	/* abstract namespace */
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	unsetenv("NOTIFY_SOCKET");
}

void
sup_notify(const char *msg)
{
	int fd;

	if (addr_len == 0)
		return;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len) < 0)
		log_warn("%s: %s: %s", __func__, msg, strerror(errno));
	if (fd >= 0)
		close(fd);
}
