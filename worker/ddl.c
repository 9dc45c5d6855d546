/*
 * ddl: schema renames made visible (see ddl.h).  The trigger function lives
 * in the public schema as pgcdc_ddl_notice(); it is shared by every slot of
 * the database (each worker renames only the relations it has seen).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "worker/ddl.h"

/* One transaction that does not wait for synchronous standbys (which may
 * be slow or gone: a worker must not hang in setup for them). */
static const char ddl_sql[] =
    "BEGIN; SET LOCAL synchronous_commit = local; "
    "CREATE OR REPLACE FUNCTION public.pgcdc_ddl_notice() RETURNS event_trigger "
    "LANGUAGE plpgsql AS $f$ DECLARE r record; BEGIN "
    "FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands() "
    "WHERE object_type = 'schema' LOOP "
    "PERFORM pg_logical_emit_message(true, '" DDL_PREFIX "', "
    "(SELECT nspname FROM pg_namespace WHERE oid = r.objid) || E'\\n' || "
    "coalesce((SELECT string_agg(oid::text, ' ') FROM pg_class "
    "WHERE relnamespace = r.objid AND relkind IN ('r', 'p')), '')); "
    "END LOOP; END $f$; "
    "CREATE EVENT TRIGGER pgcdc_ddl ON ddl_command_end WHEN TAG IN ('ALTER SCHEMA') "
    "EXECUTE FUNCTION public.pgcdc_ddl_notice(); COMMIT";

void
ddl_install(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT EXISTS (SELECT FROM pg_event_trigger WHERE "
	    "evtname = 'pgcdc_ddl'), (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)");

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		PQclear(r);
		return;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		log_warn("cannot create the event trigger pgcdc_ddl (needs a superuser): after "
		    "ALTER SCHEMA ... RENAME, events keep the old schema name until pgcdc "
		    "restarts; fix: let a superuser start pgcdc once (README: schema changes)");
		PQclear(r);
		return;
	}
	PQclear(r);
	/* Two workers may race here: the loser's error is harmless. */
	r = PQexec(c, ddl_sql);
	if (PQresultStatus(r) == PGRES_COMMAND_OK) {
		log_info("created event trigger pgcdc_ddl (schema renames)");
	} else {
		log_warn("create event trigger pgcdc_ddl: %s", strtok(PQerrorMessage(c), "\n"));
		PQclear(PQexec(c, "ROLLBACK"));
	}
	PQclear(r);
}

int
ddl_message(struct relcache *rels, const struct pgo_msg *m, struct fwd *f, lsn_t wal)
{
	char name[256], num[16];
	const char *p = (const char *)m->message.content, *end = p + m->message.len, *nl, *next;
	struct buf msg = { 0 };

	if (strcmp(m->message.prefix, DDL_PREFIX) != 0)
		return 0;
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL || nl - p >= (long)sizeof(name)) {
		log_warn("ignoring a malformed %s message", DDL_PREFIX);
		return 1;
	}
	memcpy(name, p, (size_t)(nl - p));
	name[nl - p] = '\0';
	for (p = nl + 1; p < end; p = next) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t n = (size_t)((sp ? sp : end) - p);
		const struct rel *old;
		struct rel *new;
		struct rd rd;

		next = sp ? sp + 1 : end;
		if (n == 0 || n >= sizeof(num))
			continue;
		memcpy(num, p, n);
		num[n] = '\0';
		if ((old = relcache_get(rels, (uint32_t)strtoul(num, NULL, 10))) == NULL ||
		    strcmp(old->schema, name) == 0)
			continue;
		buf_reset(&msg);
		rel_encode(old, name, &msg);
		rd_init(&rd, msg.data + 1, msg.len - 1);
		if ((new = rel_parse(&rd)) == NULL)
			continue;
		log_info("schema %s renamed to %s: relation %s follows", old->schema, name,
		    old->table);
		fwd_all(f, wal, msg.data, msg.len);
		relcache_put(rels, new);
	}
	buf_free(&msg);
	return 1;
}
