/*
 * lmdb_fill: the fault campaign's "LMDB map full" injection.  Opens pgcdc's
 * environment in STATE_DIR at the size it has now, adds junk records (keys
 * "zz-fill/<n>", which pgcdc never reads) until LMDB answers MDB_MAP_FULL,
 * then holds a read transaction open until SIGTERM, as a stuck reader
 * would: the pages pgcdc's commits free cannot be reused meanwhile, so a
 * worker's or sink's next commit finds the map full.  Prints "full" when
 * it is.  `lmdb_fill STATE_DIR --clear` deletes the junk again.  Maps past
 * 64 MiB (grown by earlier fills) are left alone: exit 3, nothing written.
 * Exit 0 when the map was filled (or cleared), 1 on any other error.
 * Fills fast: no fsync, 256 records a transaction, halved on MDB_MAP_FULL
 * down to one record.
 * Opens with pgcdc's reader table size (common/ckpt.c CKPT_MAX_READERS).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#define FILL_MAX_MAP	(64UL << 20)

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "lmdb_fill: %s: %s\n", what, mdb_strerror(rc));
	return 1;
}

static int
clear(MDB_env *env)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, n = 0;

	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return fail("begin", rc);
	k.mv_data = "zz-fill/";
	k.mv_size = 8;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 8 || memcmp(k.mv_data, "zz-fill/", 8) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			return fail("del", rc);
		n++;
	}
	mdb_cursor_close(cur);
	if ((rc = mdb_txn_commit(txn)) != 0)
		return fail("commit", rc);
	printf("cleared %d records\n", n);
	return 0;
}

int
main(int argc, char **argv)
{
	MDB_env *env;
	MDB_envinfo info;
	char key[32], val[1000];
	int rc, n, batch;

	if (argc < 2)
		return fprintf(stderr, "usage: lmdb_fill STATE_DIR [--clear]\n"), 2;
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxreaders(env, 126)) != 0 ||
	    (rc = mdb_env_open(env, argv[1], MDB_NOTLS | MDB_NOSYNC, 0600)) != 0)
		return fail(argv[1], rc);
	if (argc > 2 && strcmp(argv[2], "--clear") == 0)
		return clear(env);
	mdb_env_info(env, &info);
	if (info.me_mapsize > FILL_MAX_MAP) {
		printf("big: map of %zu KiB, not filled\n", info.me_mapsize >> 10);
		return 3;
	}
	memset(val, 'f', sizeof(val));
	for (n = 0, batch = 256; batch > 0;) {
		MDB_txn *txn;
		MDB_dbi dbi;
		int i;

		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
		    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
			return fail("begin", rc);
		for (i = 0, rc = 0; i < batch && rc == 0; i++) {
			MDB_val k, v = { sizeof(val), val };

			k.mv_size = (size_t)snprintf(key, sizeof(key), "zz-fill/%08d", n + i);
			k.mv_data = key;
			rc = mdb_put(txn, dbi, &k, &v, 0);
		}
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == MDB_MAP_FULL) {
			batch /= 2;
			continue;
		}
		if (rc != 0)
			return fail("put", rc);
		n += batch;
	}
	{
		MDB_txn *rtxn;
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &rtxn)) != 0)
			return fail("read txn", rc);
		printf("full: map of %zu KiB after %d records; holding a reader\n",
		    info.me_mapsize >> 10, n);
		fflush(stdout);
		sigwait(&set, &sig);
		mdb_txn_abort(rtxn);
	}
	mdb_env_close(env);
	return 0;
}
