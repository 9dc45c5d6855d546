/*
 * tables: the concrete table list of one worker's replication slot.  The
 * config's slot may list patterns ("public.*", "sales.order_*": '*' matches
 * any run of characters in the schema or the table name) and may be split
 * into shards <name>_0 .. <name>_<N-1>.  Patterns are matched against the
 * catalog (ordinary and partitioned tables, not partitions); with shards, a
 * table goes to the shard recorded for it in LMDB (shard/<name>/<table>),
 * or, the first time, to FNV-1a(table) mod N, which is then recorded: a
 * table never moves when others are added.  Each shard has its own
 * publication, <publication>_<i>.
 */
#ifndef PGCDC_TABLES_H
#define PGCDC_TABLES_H

#include "common/cfg.h"
#include "common/ckpt.h"

/* Fill out (a slot of its own: name = the replication slot, shards = 1,
 * tables resolved) for replication slot `name`.  Returns 0 or an exit code
 * (1 retry, 2 fatal), logged. */
int tables_resolve(const struct cfg *cfg, const char *name, struct ckpt *ck,
    struct cfg_slot *out);
void tables_free(struct cfg_slot *s);
/* Would resolving again give other tables than s has (a table created that
 * matches a pattern, say)?  Errors count as no change (logged). */
int tables_changed(const struct cfg *cfg, struct ckpt *ck, const struct cfg_slot *s);

#endif
