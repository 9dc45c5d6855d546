/*
 * types: which non-built-in type oids are array types, learnt from pgoutput
 * Type messages, so that JSON renders their values as arrays (json_value).
 * It also keeps each described type's name (the postgres sink names column
 * types by it).  One registry per process, not per slot: every slot of a
 * pgcdc config reads the same source database, where a type oid names one
 * type for as long as it exists, and an oid never turns from array into
 * non-array or back.
 * Lookups do not allocate; only types_put grows the table.
 */
#ifndef PGCDC_TYPES_H
#define PGCDC_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/* Oids below this are fixed by PostgreSQL's catalog data (pg_type.dat) and
 * pgoutput never describes them; at or above it, it sends a Type message
 * before the first Relation that uses the type. */
#define TYPES_FIRST_DESCRIBED 10000

/*
 * Record a Type message.  pgoutput describes a column's type by the
 * namespace and name of its base type, and PostgreSQL names an array type
 * "_" + its element's name, so a name starting with '_' marks an array --
 * except in pg_catalog: every built-in array is known already (json_value's
 * table), so such a message describes a domain over one, and DESIGN.md
 * renders domains as text.  (A domain over a user-defined array type cannot
 * be told from that array type: it renders as an array.  Arrays of catalog
 * row types, pg_catalog oids from 10000 on, stay text: no table uses them.)
 */
void types_put(uint32_t oid, const char *nspname, const char *typname);
/* Was oid described as an array type?  (false for oids never described) */
bool types_is_array(uint32_t oid);
/* The namespace and name the last Type message gave for oid (for a domain,
 * its base type's), valid until the next types_put or types_reset; false
 * for oids never described. */
bool types_name(uint32_t oid, const char **nspname, const char **typname);
/* Forget everything and free the table (tests, shutdown). */
void types_reset(void);

#endif
