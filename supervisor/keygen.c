/*
 * keygen: `pgcdc keygen FILE` makes a CURVE keypair for ZeroMQ endpoints:
 * FILE gets the secret key, FILE.pub the public key (NAME.key: NAME.pub),
 * each as 40 Z85
 * characters, created mode 0600 and never over an existing file.  The
 * public key is printed too; the secret one never is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "common/log.h"
#include "supervisor/sup.h"

#define KEYGEN_Z85_LEN	40

static int
write_key(const char *path, const char *z85)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_error("%s: create %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	if (write(fd, z85, KEYGEN_Z85_LEN) != KEYGEN_Z85_LEN || fsync(fd) < 0) {
		log_error("%s: write %s: %s", __func__, path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return close(fd);
}

int
sup_keygen(const char *file)
{
	char pub[KEYGEN_Z85_LEN + 1], sec[KEYGEN_Z85_LEN + 1], pubfile[4096];
	size_t n = strlen(file);
	int rc = -1;

	log_init("pgcdc", NULL);
	if (n > 4 && strcmp(file + n - 4, ".key") == 0)
		n -= 4;
	if (snprintf(pubfile, sizeof(pubfile), "%.*s.pub", (int)n, file) >= (int)sizeof(pubfile)) {
		log_error("%s: path too long: %s", __func__, file);
		return 2;
	}
	if (zmq_curve_keypair(pub, sec) < 0) {
		log_error("%s: zmq_curve_keypair: %s (libzmq without CURVE?)", __func__,
		    zmq_strerror(errno));
		return 2;
	}
	if (write_key(file, sec) == 0) {
		if (write_key(pubfile, pub) == 0)
			rc = 0;
		else
			unlink(file);
	}
	explicit_bzero(sec, sizeof(sec));
	if (rc < 0)
		return 2;
	printf("secret key in %s, public key in %s: %s\n", file, pubfile, pub);
	return 0;
}
