/*
 * pgo: decoder for pgoutput logical replication messages (protocol v1, and
 * v2's Stream Start/Stop/Commit/Abort), "Logical Replication Message Formats"
 * in the PostgreSQL docs.  Between Stream Start and Stop, changes carry the
 * (sub)transaction's xid after the type byte: the decoder tracks that state.
 * Decoding is zero-copy: strings and tuple values point into the input, which
 * must outlive the decoded message.  Malformed input returns -1 with a reason
 * in the decoder's err[]; it never crashes or reads out of bounds (fuzzed).
 */
#ifndef PGCDC_PGO_H
#define PGCDC_PGO_H

#include <stddef.h>
#include <stdint.h>

#include "common/lsn.h"
#include "common/rel.h"

/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define PGO_EPOCH_OFFSET_US 946684800000000LL

enum pgo_type {
	PGO_BEGIN = 'B', PGO_COMMIT = 'C', PGO_ORIGIN = 'O', PGO_RELATION = 'R',
	PGO_TYPE = 'Y', PGO_INSERT = 'I', PGO_UPDATE = 'U', PGO_DELETE = 'D',
	PGO_TRUNCATE = 'T', PGO_MESSAGE = 'M',
	PGO_STREAM_START = 'S', PGO_STREAM_STOP = 'E', PGO_STREAM_COMMIT = 'c',
	PGO_STREAM_ABORT = 'A'
};

#define PGO_TRUNC_CASCADE	 0x01
#define PGO_TRUNC_RESTART_SEQS	 0x02

struct pgo_msg {
	char	type;
	/* STREAM_START, _COMMIT, _ABORT: the top-level xid; a change inside a
	 * stream: its (sub)transaction's xid, and xid_len = 4 bytes of it follow
	 * the type byte (the message minus them is the protocol v1 message). */
	uint32_t xid;
	uint8_t	 xid_len;
	union {
		struct { lsn_t final_lsn; int64_t commit_ts; uint32_t xid; } begin;
		/* COMMIT and STREAM_COMMIT */
		struct { uint8_t flags; lsn_t commit_lsn, end_lsn; int64_t commit_ts; } commit;
		struct { uint8_t first_segment; } stream_start;
		struct { uint32_t subxid; } stream_abort;	/* == xid: the whole one */
		struct { lsn_t lsn; const char *name; } origin;
		struct { uint32_t oid; const char *nspname, *typname; } typ;	/* TYPE */
		/* INSERT, UPDATE, DELETE.  old_kind: 0 none, 'K' key, 'O' full old row.
		 * has_new: INSERT and UPDATE. */
		struct { uint32_t relid; char old_kind; int has_new; } change;
		/* relids: nrels big-endian Int32 values at relids_raw. */
		struct { uint32_t nrels; uint8_t flags; const uint8_t *relids_raw; } truncate;
		struct { uint8_t flags; lsn_t lsn; const char *prefix;
			 uint32_t len; const uint8_t *content; } message;
	};
	/* RELATION: newly parsed relation; the caller takes ownership. */
	struct rel	*rel;
};

struct pgo_decoder {
	struct tuple	 oldt;		/* change.old_kind != 0 */
	struct tuple	 newt;		/* change.has_new */
	int		 in_stream;	/* between Stream Start and Stream Stop */
	char		 err[160];
};

/* Decode one message.  Returns 0, or -1 with dec->err set. */
int pgo_decode(struct pgo_decoder *dec, const uint8_t *data, size_t len,
    struct pgo_msg *out);
void pgo_decoder_free(struct pgo_decoder *dec);
uint32_t pgo_truncate_relid(const struct pgo_msg *m, uint32_t i);

#endif
