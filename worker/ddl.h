/*
 * ddl: what pgoutput leaves out.  ALTER SCHEMA ... RENAME changes no
 * relation, so PostgreSQL sends no new Relation message and later changes
 * would carry the old schema name.  An event trigger (installed by setup
 * when the role may create one) emits, inside the renaming transaction, a
 * transactional logical message "pgcdc-ddl": the schema's new name, a
 * newline, the oids of its tables.  At that position in the stream the
 * worker sends its sinks the tables' Relation messages with the new name.
 */
#ifndef PGCDC_DDL_H
#define PGCDC_DDL_H

#include <libpq-fe.h>

#include "common/pgo.h"
#include "common/rel.h"
#include "worker/fwd.h"

#define DDL_PREFIX	"pgcdc-ddl"

/* Create the event trigger once per database; without the privilege, warn
 * and go on (renamed schemas then show their old name until pgcdc restarts). */
void ddl_install(PGconn *c);
/* A "pgcdc-ddl" message: update rels and forward the renamed relations.
 * Returns 1 if m was ours. */
int ddl_message(struct relcache *rels, const struct pgo_msg *m, struct fwd *f, lsn_t wal);

#endif
