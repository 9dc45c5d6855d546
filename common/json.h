/*
 * json: Debezium-envelope rendering of changes (DESIGN.md section 6), into a
 * caller-owned growing buffer so the hot path does not allocate per change.
 * Output is always valid JSON: strings are escaped, invalid UTF-8 becomes
 * U+FFFD, values are typed by the column's type oid.
 */
#ifndef PGCDC_JSON_H
#define PGCDC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lsn.h"
#include "common/rel.h"

#define JSON_VERSION "pgcdc-0.1"

/* A quoted, escaped JSON string. */
void json_str(struct buf *b, const void *s, size_t len);
/*
 * One column value given in PostgreSQL's text output form (jsonval.c):
 * bool, int2/4/8 and oid as JSON values; float4/8 as numbers, NaN and
 * +-Infinity as strings; json/jsonb embedded; bytea (hex or escape form) as
 * base64; timestamp[tz] and timetz in ISO 8601 ('T', offset "Z" or +HH:MM);
 * arrays (built-in, or known as arrays by types_put) as JSON arrays with
 * elements by their type's rule; anything else, numeric and date included,
 * as the text in a JSON string.
 */
void json_value(struct buf *b, uint32_t typoid, const uint8_t *text, size_t len);

/* Render each column's "name": once, into rel->jkeys (rel_parse does). */
void json_rel_keys(struct rel *rel);

/* What goes into "source" besides the relation. */
struct json_src {
	const char	*name;		/* slot name */
	const char	*db;
	int64_t		 commit_ts;	/* PostgreSQL epoch, microseconds */
	uint32_t	 xid;
	lsn_t		 lsn;		/* WAL position of the change */
	lsn_t		 commit_lsn;	/* final_lsn of the transaction */
	uint64_t	 ordinal;	/* 1-based position inside the transaction */
	const char	*snapshot;	/* "false", "true", "last" */
	const char	*origin;	/* replication origin of the transaction, or NULL */
};

/*
 * Append one envelope (no trailing newline).  op: 'r','c','u','d','t'.
 * before / after may be NULL.  A 'K' before tuple renders only key columns.
 * Unchanged-TOAST columns ('u') are left out of "after" and listed in
 * "unchanged".  now_ms is the top-level ts_ms.
 */
void json_envelope(struct buf *b, char op, const struct rel *rel,
    const struct tuple *before, char before_kind, const struct tuple *after,
    const struct json_src *src, int64_t now_ms);

#endif
