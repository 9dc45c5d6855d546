/*
 * zmqfeed: a ZeroMQ PUB feed.  Each change is one two-part message: the topic
 * "<schema>.<table>" ("@messages.<slot>" for op m), then the Debezium envelope
 * exactly as the jsonl sink writes it as a line.  At-least-once: a change is
 * durable (acked) once handed to ZeroMQ; PUB drops what a slow or absent
 * subscriber cannot take, and after a crash the worker resends from the last
 * ack, so consumers skip repeats by (source.name, commit_lsn, ordinal).
 * With CURVE keys, a ZAP handler thread (RFC 27) admits only the configured
 * client keys.  It is bound before the PUB socket and outlives it: libzmq
 * admits every CURVE client while no handler is bound.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zmq.h>

#include "common/json.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/util.h"
#include "sink/sink.h"

#define ZF_SNDHWM	100000	/* messages queued per subscriber before PUB drops */
#define ZF_LINGER_MS	1000	/* at close, time left to hand queued messages over */
#define ZF_KEY_LEN	32	/* a CURVE key in bytes; 40 characters in Z85 */
#define ZF_Z85_LEN	40
#define ZF_ZAP_ENDPOINT	"inproc://zeromq.zap.01"	/* fixed by RFC 27 */
#define ZF_ZAP_PARTS	7	/* version .. mechanism, one credential (CURVE) */
#define ZF_REFUSED_LOG_MS 1000	/* log a refused client at most this often */

struct zfeed {
	void		*ctx;		/* ours: ZAP lives per context */
	void		*pub;
	void		*zap;		/* REP; the ZAP thread's alone once it runs */
	pthread_t	 zap_thread;
	int		 zap_running;
	uint8_t		(*clients)[ZF_KEY_LEN];	/* public keys admitted */
	size_t		 nclients;
	int64_t		 refused_logged;	/* ms; refusals are logged at most */
						/* every ZF_REFUSED_LOG_MS */
	unsigned	 refused_quiet;		/* refusals since then, not logged */
	struct buf	 topic;
	struct buf	 msg;
};

/* ---- ZAP handler (RFC 27), its own thread ---- */

/* One request: its parts (at most ZF_ZAP_PARTS kept, the rest dropped).
 * Returns the number of parts, -1 when the context is shut down (or on an
 * error, logged). */
static int
zap_recv(void *sock, zmq_msg_t *part)
{
	zmq_msg_t extra;
	int n = 0, more = 1;

	while (more && n < ZF_ZAP_PARTS) {
		if (zmq_msg_recv(&part[n], sock, 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ETERM)
				log_error("%s: %s; no more CURVE clients are let in",
				    __func__, zmq_strerror(errno));
			return -1;
		}
		more = zmq_msg_more(&part[n++]);
	}
	zmq_msg_init(&extra);
	while (more && zmq_msg_recv(&extra, sock, 0) >= 0)
		more = zmq_msg_more(&extra);
	zmq_msg_close(&extra);
	return n;
}

static int
part_is(zmq_msg_t *m, const char *s)
{
	return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

static int
key_allowed(const struct zfeed *z, const uint8_t *key)
{
	for (size_t i = 0; i < z->nclients; i++)
		if (memcmp(z->clients[i], key, ZF_KEY_LEN) == 0)
			return 1;
	return 0;
}

static void
note_refused(struct zfeed *z, const char *key, const char *addr)
{
	int64_t now = util_now_ms();

	if (now - z->refused_logged < ZF_REFUSED_LOG_MS) {
		z->refused_quiet++;
		return;
	}
	if (z->refused_quiet > 0)
		log_warn("ZAP: %u more refusal(s) not logged", z->refused_quiet);
	log_warn("ZAP: refused client key %s from %s: not in curve_allowed_clients",
	    key, addr);
	z->refused_logged = now;
	z->refused_quiet = 0;
}

/* The decision on a request of n parts: "200" admits.  *uid gets the
 * client's key in Z85 (ZeroMQ's User-Id of its messages). */
static const char *
zap_decide(struct zfeed *z, zmq_msg_t *part, int n, char *uid)
{
	char addr[64] = "ipc";
	size_t alen;

	uid[0] = '\0';
	if (n < ZF_ZAP_PARTS || !part_is(&part[0], "1.0") || !part_is(&part[5], "CURVE") ||
	    zmq_msg_size(&part[6]) != ZF_KEY_LEN) {
		log_warn("ZAP: malformed request or mechanism other than CURVE: refused");
		return "400";
	}
	zmq_z85_encode(uid, zmq_msg_data(&part[6]), ZF_KEY_LEN);
	if ((alen = zmq_msg_size(&part[3])) > 0) {		/* the peer's IP address; none over ipc:// */
		alen = alen < sizeof(addr) ? alen : sizeof(addr) - 1;
		memcpy(addr, zmq_msg_data(&part[3]), alen);
		addr[alen] = '\0';
	}
	if (!key_allowed(z, zmq_msg_data(&part[6]))) {
		note_refused(z, uid, addr);
		return "400";
	}
	log_info("ZAP: admitted client key %s from %s", uid, addr);
	return "200";
}

/* Reply: version, request id, status code, status text, user id, metadata. */
static void
zap_reply(void *sock, zmq_msg_t *req_id, const char *code, const char *uid)
{
	const char *text = code[0] == '2' ? "OK" : "client key not allowed";

	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_msg_send(req_id, sock, ZMQ_SNDMORE);
	zmq_send(sock, code, 3, ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, uid, strlen(uid), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
}

static void *
zap_main(void *arg)
{
	struct zfeed *z = arg;
	zmq_msg_t part[ZF_ZAP_PARTS];
	char uid[ZF_Z85_LEN + 1];
	int n;

	for (int i = 0; i < ZF_ZAP_PARTS; i++)
		zmq_msg_init(&part[i]);
	/* REP must answer every request, a malformed one too (part 1 is its
	 * id).  The socket stays open when this ends, so that no CURVE client
	 * gets in unchecked; zf_close closes it. */
	while ((n = zap_recv(z->zap, part)) >= 0) {
		const char *code = zap_decide(z, part, n, uid);

		zap_reply(z->zap, &part[n >= 2 ? 1 : 0], code, uid);
	}
	for (int i = 0; i < ZF_ZAP_PARTS; i++)
		zmq_msg_close(&part[i]);
	return NULL;
}

/* Bind the handler (before the PUB socket exists) and start its thread,
 * with every signal blocked so they reach the main loop. */
static int
zap_start(struct zfeed *z)
{
	sigset_t all, old;
	int rc;

	if ((z->zap = zmq_socket(z->ctx, ZMQ_REP)) == NULL ||
	    zmq_bind(z->zap, ZF_ZAP_ENDPOINT) < 0) {
		log_error("%s: bind %s: %s", __func__, ZF_ZAP_ENDPOINT, zmq_strerror(errno));
		return -1;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&z->zap_thread, NULL, zap_main, z);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("%s: pthread_create: %s", __func__, strerror(rc));
		return -1;
	}
	z->zap_running = 1;
	return 0;
}

/* ---- keys ---- */

/* The server's secret key: a file of 40 Z85 characters, mode 0600 or
 * stricter.  Exits 2 (do not restart) when the file is wrong. */
static void
read_secret(const struct cfg_sink *conf, uint8_t *key)
{
	const char *path = conf->curve_secret_key_file;
	char text[ZF_Z85_LEN + 8];
	struct stat st;
	long n;

	if (stat(path, &st) < 0)
		fatal(PROC_EXIT_FATAL, "sink %s: curve_secret_key_file %s: %s; fix: write "
		    "the server's secret key there (40 Z85 characters, mode 0600)",
		    conf->name, path, strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		fatal(PROC_EXIT_FATAL, "sink %s: curve_secret_key_file %s is accessible by "
		    "group or others (mode %04o); fix: chmod 600 %s", conf->name, path,
		    (unsigned)(st.st_mode & 07777), path);
	n = util_read_file(path, text, sizeof(text));
	if (n < 0)
		fatal(PROC_EXIT_FATAL, "sink %s: curve_secret_key_file %s: cannot read: %s",
		    conf->name, path, strerror(errno));
	if (n != ZF_Z85_LEN || zmq_z85_decode(key, text) == NULL) {
		explicit_bzero(text, sizeof(text));
		fatal(PROC_EXIT_FATAL, "sink %s: curve_secret_key_file %s does not hold a "
		    "CURVE secret key (40 Z85 characters, as zmq_curve_keypair writes)",
		    conf->name, path);
	}
	explicit_bzero(text, sizeof(text));
}

static void
read_clients(struct zfeed *z, const struct cfg_sink *conf)
{
	z->nclients = conf->ncurve_allowed_clients;
	if ((z->clients = calloc(z->nclients ? z->nclients : 1, sizeof(*z->clients))) == NULL)
		fatal(PROC_EXIT_RETRY, "%s: out of memory", __func__);
	for (size_t i = 0; i < z->nclients; i++)
		if (strlen(conf->curve_allowed_clients[i]) != ZF_Z85_LEN ||
		    zmq_z85_decode(z->clients[i], conf->curve_allowed_clients[i]) == NULL)
			fatal(PROC_EXIT_FATAL, "sink %s: curve_allowed_clients: \"%s\" is not "
			    "a CURVE public key", conf->name, conf->curve_allowed_clients[i]);
}

/* Make the PUB socket a CURVE server with this secret key (wiped here);
 * logs the public key clients need. */
static int
curve_server(struct zfeed *z, uint8_t *secret)
{
	char z85[ZF_Z85_LEN + 1], pub[ZF_Z85_LEN + 1];
	int one = 1, rc;

	zmq_z85_encode(z85, secret, ZF_KEY_LEN);
	rc = zmq_curve_public(pub, z85);
	explicit_bzero(z85, sizeof(z85));
	if (rc == 0)
		rc = zmq_setsockopt(z->pub, ZMQ_CURVE_SERVER, &one, sizeof(one));
	if (rc == 0)
		rc = zmq_setsockopt(z->pub, ZMQ_CURVE_SECRETKEY, secret, ZF_KEY_LEN);
	if (rc == 0)
		rc = zmq_setsockopt(z->pub, ZMQ_ZAP_DOMAIN, "pgcdc", 5);
	explicit_bzero(secret, ZF_KEY_LEN);
	if (rc < 0) {
		log_error("%s: CURVE: %s (libzmq built without CURVE?)", __func__,
		    zmq_strerror(errno));
		return -1;
	}
	log_info("CURVE on: server public key %s, %zu client key(s) allowed", pub,
	    z->nclients);
	return 0;
}

/* ---- the feed ---- */

/* The PUB socket, bound; with CURVE, the ZAP handler runs before it. */
static int
pub_bind(struct zfeed *z, const struct cfg_sink *conf, uint8_t *secret)
{
	int hwm = ZF_SNDHWM, linger = ZF_LINGER_MS, ipv6 = strchr(conf->endpoint, '[') != NULL;
	char ep[512];
	size_t eplen = sizeof(ep);

	if (secret != NULL && zap_start(z) < 0)
		return -1;
	if ((z->pub = zmq_socket(z->ctx, ZMQ_PUB)) == NULL ||
	    zmq_setsockopt(z->pub, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(z->pub, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(z->pub, ZMQ_IPV6, &ipv6, sizeof(ipv6)) < 0) {
		log_error("%s: PUB socket: %s", __func__, zmq_strerror(errno));
		return -1;
	}
	if (secret != NULL && curve_server(z, secret) < 0)
		return -1;
	if (zmq_bind(z->pub, conf->endpoint) < 0) {
		log_error("%s: bind %s: %s", __func__, conf->endpoint, zmq_strerror(errno));
		return -1;
	}
	if (zmq_getsockopt(z->pub, ZMQ_LAST_ENDPOINT, ep, &eplen) < 0)
		snprintf(ep, sizeof(ep), "%s", conf->endpoint);
	log_info("publishing on %s%s", ep, secret != NULL ? " (CURVE)" : "");
	return 0;
}

static int
zf_open(struct sink *s)
{
	const struct cfg_sink *conf = s->conf;
	struct zfeed *z = calloc(1, sizeof(*z));
	uint8_t secret[ZF_KEY_LEN];
	int curve = conf->curve_secret_key_file != NULL, rc;

	if (z == NULL)
		return -1;
	s->impl = z;
	if (conf->transactions)
		fatal(PROC_EXIT_FATAL, "sink %s: transactions = true is not supported by zmq "
		    "sinks; fix: remove it (each message carries commit_lsn and ordinal)",
		    conf->name);
	if (curve) {	/* bad keys exit here, before anything runs */
		read_secret(conf, secret);
		read_clients(z, conf);
	}
	if ((z->ctx = zmq_ctx_new()) == NULL) {
		log_error("%s: zmq_ctx_new: %s", __func__, zmq_strerror(errno));
		return -1;
	}
	rc = pub_bind(z, conf, curve ? secret : NULL);
	explicit_bzero(secret, sizeof(secret));
	return rc;
}

static int
send_part(void *sock, const struct buf *b, int flags)
{
	while (zmq_send(sock, b->data, b->len, flags | ZMQ_DONTWAIT) < 0) {
		if (errno == EAGAIN)
			return 0;	/* no room for it: PUB drops, as for a slow subscriber */
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static int
zf_change(struct sink *s, struct sink_slot *sl, const struct sink_change *c)
{
	struct zfeed *z = s->impl;

	buf_reset(&z->topic);
	buf_reset(&z->msg);
	if (c->op == 'm')
		buf_printf(&z->topic, "@messages.%s", sl->name);
	else
		buf_printf(&z->topic, "%s.%s", c->rel->schema, c->rel->table);
	sink_json_event(s, sl, c, &z->msg);
	if (send_part(z->pub, &z->topic, ZMQ_SNDMORE) < 0 || send_part(z->pub, &z->msg, 0) < 0) {
		log_error("%s: send on %s: %s", __func__, s->conf->endpoint, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

/* Published as they came: a commit adds nothing. */
static int
zf_commit(struct sink *s, struct sink_slot *sl)
{
	(void)s;
	(void)sl;
	return 0;
}

/* What was published stays published; the resent transaction repeats it,
 * and consumers skip the repeats by (commit_lsn, ordinal). */
static void
zf_rollback(struct sink *s, struct sink_slot *sl)
{
	(void)s;
	log_info("slot %s: transaction at commit_lsn %llu abandoned after part of it was "
	    "published; it will be published again whole", sl->name,
	    (unsigned long long)sl->final_lsn);
}

/* Everything committed is in ZeroMQ's hands already: that is durable here. */
static int
zf_flush(struct sink *s, struct ckpt_batch *batch)
{
	(void)s;
	(void)batch;
	return 0;
}

static void
zf_close(struct sink *s)
{
	struct zfeed *z = s->impl;

	if (z == NULL)
		return;
	if (z->pub != NULL)
		zmq_close(z->pub);	/* queued messages linger up to ZF_LINGER_MS */
	if (z->ctx != NULL)
		zmq_ctx_shutdown(z->ctx);	/* the ZAP thread's recv fails: it ends */
	if (z->zap_running)
		pthread_join(z->zap_thread, NULL);
	if (z->zap != NULL)
		zmq_close(z->zap);
	if (z->ctx != NULL)
		zmq_ctx_term(z->ctx);
	free(z->clients);
	buf_free(&z->topic);
	buf_free(&z->msg);
	free(z);
	s->impl = NULL;
}

const struct sink_ops sink_zmq_ops = {
	.type = "zmq",
	.open = zf_open,
	.change = zf_change,
	.commit = zf_commit,
	.rollback = zf_rollback,
	.flush = zf_flush,
	.close = zf_close,
};
