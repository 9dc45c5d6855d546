/*
 * test_pgo_stream: protocol v2 streaming, from bytes PostgreSQL 15 sent with
 * logical_decoding_work_mem = 64kB (tests/fixtures/pgoutput/streamed.hex,
 * scripts/capture-pgoutput.sh --streamed): Stream Start/Stop/Commit/Abort
 * and the xids inside streams decode; run through the worker's spool, the
 * committed transaction replays as exactly its surviving changes (a rolled
 * back savepoint cut out), and the rolled back one leaves no file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lsn.h"
#include "common/pgo.h"
#include "common/rel.h"
#include "worker/spool.h"

#define STREAMED	"tests/fixtures/pgoutput/streamed.hex"

static struct { lsn_t lsn; uint8_t *b; size_t n; } *msg;
static size_t nmsg;
static char fixture_path[4096];

static int
load(void **state)
{
	FILE *f = fopen(fixture_path, "r");
	char lsn[32], *hex = NULL;

	(void)state;
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", fixture_path);
		return -1;
	}
	while (fscanf(f, "%31s %ms", lsn, &hex) == 2) {
		size_t n = strlen(hex) / 2;

		msg = realloc(msg, (nmsg + 1) * sizeof(*msg));
		msg[nmsg].b = malloc(n);
		msg[nmsg].n = n;
		if (lsn_parse(lsn, &msg[nmsg].lsn) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (sscanf(hex + 2 * i, "%2hhx", &msg[nmsg].b[i]) != 1)
				return -1;
		free(hex);
		hex = NULL;
		nmsg++;
	}
	fclose(f);
	return nmsg > 0 ? 0 : -1;
}

static int
unload(void **state)
{
	(void)state;
	for (size_t i = 0; i < nmsg; i++)
		free(msg[i].b);
	free(msg);
	return 0;
}

static void
decode(struct pgo_decoder *d, size_t i, struct pgo_msg *m)
{
	if (pgo_decode(d, msg[i].b, msg[i].n, m) < 0)
		fail_msg("message %zu: %s", i, d->err);
	rel_free(m->rel);
	m->rel = NULL;
}

/* The stream's shape: segments of one xid, first flagged; changes carry
 * the top xid or a subxact's; one subxact abort, one whole abort. */
static void
test_decode(void **state)
{
	struct pgo_decoder d = { 0 };
	struct pgo_msg m;
	uint32_t top = 0, sub = 0;
	int starts = 0, aborts = 0, commits = 0, in = 0;

	(void)state;
	for (size_t i = 0; i < nmsg; i++) {
		decode(&d, i, &m);
		switch (m.type) {
		case PGO_STREAM_START:
			assert_int_equal(in, 0);
			in = 1;
			if (starts++ == 0)
				top = m.xid;
			assert_int_equal(m.stream_start.first_segment, starts == 1 || m.xid != top);
			break;
		case PGO_STREAM_STOP:
			in = 0;
			break;
		case PGO_STREAM_ABORT:
			assert_int_equal(in, 0);
			if (aborts++ == 0) {
				assert_int_equal(m.xid, top);
				assert_int_not_equal(m.stream_abort.subxid, top);
				assert_int_equal(m.stream_abort.subxid, sub);
			} else {
				assert_int_not_equal(m.xid, top);
				assert_int_equal(m.stream_abort.subxid, m.xid);
			}
			break;
		case PGO_STREAM_COMMIT:
			commits++;
			assert_int_equal(m.xid, top);
			assert_true(m.commit.end_lsn > m.commit.commit_lsn);
			break;
		case PGO_INSERT: case PGO_UPDATE: case PGO_RELATION:
			assert_int_equal(m.xid_len, in ? 4 : 0);
			if (in && m.xid != top && m.xid < top + 100 && sub == 0)
				sub = m.xid;
			break;
		}
	}
	assert_int_equal(aborts, 2);
	assert_int_equal(commits, 1);
	assert_int_not_equal(sub, 0);
	pgo_decoder_free(&d);
}

static int
col_int(const struct tuple_col *c)
{
	char s[16];

	snprintf(s, sizeof(s), "%.*s", (int)c->len, (const char *)c->data);
	return atoi(s);
}

/* What the worker does with it: spool, cut, replay. */
static void
test_spool(void **state)
{
	char dir[] = "/tmp/test_pgo_stream.XXXXXX", spooldir[4200];
	struct pgo_decoder d = { 0 }, v1 = { 0 };
	struct spool sp;
	struct pgo_msg m;
	int ins = 0, upd = 0, next_id = 1;
	DIR *dh;
	struct dirent *e;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(spool_open(&sp, dir, "s"), 0);
	for (size_t i = 0; i < nmsg; i++) {
		decode(&d, i, &m);
		if (m.type == PGO_STREAM_START)
			assert_int_equal(spool_start(&sp, m.xid, m.stream_start.first_segment), 0);
		else if (m.type == PGO_STREAM_STOP)
			assert_int_equal(spool_stop(&sp), 0);
		else if (m.type == PGO_STREAM_ABORT)
			assert_int_equal(spool_abort(&sp, m.xid, m.stream_abort.subxid), 0);
		else if (d.in_stream)
			assert_int_equal(spool_add(&sp, m.xid_len ? m.xid : 0, msg[i].lsn,
			    msg[i].b, msg[i].b + 1 + m.xid_len, msg[i].n - 1 - m.xid_len), 0);
		if (m.type != PGO_STREAM_COMMIT)
			continue;
		assert_int_equal(spool_replay(&sp, m.xid), 0);
		for (;;) {
			const uint8_t *p;
			size_t n;
			lsn_t wal;
			int rc = spool_next(&sp, &wal, &p, &n);

			assert_int_not_equal(rc, -1);
			if (rc == 0)
				break;
			assert_int_equal(pgo_decode(&v1, p, n, &m), 0);
			rel_free(m.rel);
			if (m.type == PGO_INSERT) {
				/* 1..600, then 2001..2300: 601..1200 rolled back */
				assert_int_equal(col_int(&v1.newt.cols[0]), next_id);
				next_id = next_id == 600 ? 2001 : next_id + 1;
				ins++;
			}
			upd += m.type == PGO_UPDATE;
		}
	}
	assert_int_equal(ins, 900);
	assert_int_equal(upd, 450);
	snprintf(spooldir, sizeof(spooldir), "%s/spool/s", dir);
	assert_non_null(dh = opendir(spooldir));
	while ((e = readdir(dh)) != NULL)
		if (e->d_name[0] != '.')
			fail_msg("left in the spool: %s", e->d_name);
	closedir(dh);
	spool_close(&sp);
	rmdir(spooldir);
	snprintf(spooldir, sizeof(spooldir), "%s/spool", dir);
	rmdir(spooldir);
	rmdir(dir);
	pgo_decoder_free(&d);
	pgo_decoder_free(&v1);
}

/* Stream framing errors are errors, not crashes. */
static void
test_bad(void **state)
{
	struct pgo_decoder d = { 0 };
	struct pgo_msg m;
	static const uint8_t stop[] = { 'E' }, start_short[] = { 'S', 0, 0, 1 },
	    start[] = { 'S', 0, 0, 1, 0, 1 }, ins_short[] = { 'I', 0, 0 };

	(void)state;
	assert_int_equal(pgo_decode(&d, stop, sizeof(stop), &m), -1);
	assert_int_equal(pgo_decode(&d, start_short, sizeof(start_short), &m), -1);
	assert_int_equal(pgo_decode(&d, start, sizeof(start), &m), 0);
	assert_int_equal(m.xid, 256);
	assert_int_equal(pgo_decode(&d, start, sizeof(start), &m), -1);
	assert_int_equal(pgo_decode(&d, ins_short, sizeof(ins_short), &m), -1);
	assert_int_equal(pgo_decode(&d, stop, sizeof(stop), &m), 0);
	pgo_decoder_free(&d);
}

int
main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_bad),
	};

	(void)argc;
	if (access(STREAMED, R_OK) == 0 || slash == NULL)
		snprintf(fixture_path, sizeof(fixture_path), "%s", STREAMED);
	else	/* build/tests/test_pgo_stream run from elsewhere */
		snprintf(fixture_path, sizeof(fixture_path), "%.*s/../../%s",
		    (int)(slash - argv[0]), argv[0], STREAMED);
	return cmocka_run_group_tests(tests, load, unload);
}
