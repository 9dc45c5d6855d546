/*
 * cfg: the configuration file (libconfig syntax), loaded into an immutable,
 * validated struct.  Every error names file, line and setting:
 *   pgcdc.cfg:14: slots[1].name: duplicate slot name "inventory"
 * Defaults are filled in here, so no other module invents one.
 */
#ifndef PGCDC_CFG_H
#define PGCDC_CFG_H

#include <stddef.h>

enum cfg_snap_mode { CFG_SNAP_INITIAL, CFG_SNAP_NEVER, CFG_SNAP_INITIAL_ONLY };
enum cfg_sink_type { CFG_SINK_JSONL, CFG_SINK_POSTGRES, CFG_SINK_ZMQ, CFG_SINK_KAFKA };

struct cfg_slot {
	char		*name;		/* [a-z0-9_]{1,63}: a replication slot name */
	char		*publication;	/* default "pgcdc_<name>" */
	char		**tables;	/* "schema.table" or patterns with '*' */
	size_t		 ntables;
	char		**sinks;	/* names of sinks in cfg.sinks */
	size_t		 nsinks;
	int		 shards;	/* default 1 */
	enum cfg_snap_mode snapshot_mode; /* default: cfg.snapshot_mode */
	int		 via_root;	/* publish_via_partition_root (default false) */
	int		 heartbeat_interval;	/* s between heartbeat messages; 0 off */
	int		 stream;	/* stream_in_progress: pgoutput v2 streaming */
};

struct cfg_sink {
	char		*name;
	enum cfg_sink_type type;
	char		*dir;		/* jsonl: required */
	long		 segment_bytes;	/* jsonl: default 64 MiB */
	int		 output_mode;	/* jsonl: file mode 0600 (default), 0640 or 0644 */
	char		*conninfo;	/* postgres: required */
	char		*endpoint;	/* zmq: required */
	char		*curve_secret_key_file;	/* zmq: CURVE server secret key (Z85), or NULL */
	char		**curve_allowed_clients;	/* zmq: client public keys (Z85), with the above */
	size_t		 ncurve_allowed_clients;
	char		*brokers;	/* kafka: required */
	char		*topic_prefix;	/* kafka: default "pgcdc" */
	int		 transactions;	/* BEGIN/END events and a "transaction" block */
};

struct cfg {
	char		*path;
	char		*state_dir;	/* required */
	char		*run_dir;	/* default "<state_dir>/run" */
	int		 log_level;	/* enum log_level; default LL_INFO */
	char		*log_file;	/* "" = stderr */
	char		*conninfo;	/* source.conninfo, required */
	char		*password_file;	/* source.password_file, may be NULL */
	enum cfg_snap_mode snapshot_mode; /* snapshot.mode, default initial */
	long		 chunk_rows;	/* snapshot.chunk_rows, default 50000 */
	int		 status_interval_ms;	/* standby status every, default 10000 */
	int		 rescan_interval;	/* s between looks for new tables (patterns); 0 off */
	long		 max_unacked_bytes;	/* per sink, default 16 MiB */
	int		 shutdown_timeout;	/* seconds, default 30 */
	long		 lmdb_map_size;	/* bytes, default 64 MiB */
	char		*metrics;	/* "HOST:PORT" of the Prometheus endpoint, or NULL */
	char		*user;		/* `pgcdc run` as root drops to this user, or NULL */
	int		 allow_root;	/* run as root without dropping (default false) */
	struct cfg_slot	*slots;
	size_t		 nslots;
	struct cfg_sink	*sinks;
	size_t		 nsinks;
};

/* Load and validate.  Returns NULL on any error, with every problem written
 * to err as "file:line: setting: message" lines (truncated to errlen). */
struct cfg *cfg_load(const char *path, char *err, size_t errlen);
void cfg_free(struct cfg *cfg);

/* The slot a replication slot belongs to: the slot itself or, for a slot
 * with shards = N, one of <name>_0 .. <name>_<N-1> (*shard: which, 0 if
 * unsharded; shard may be NULL).  NULL if none. */
const struct cfg_slot *cfg_slot_shard(const struct cfg *cfg, const char *name, int *shard);
/* By config name, or by the name of one of its shards. */
const struct cfg_slot *cfg_slot_find(const struct cfg *cfg, const char *name);
/* Is n the slot s or one of its shards?  The shard number, or -1. */
int cfg_slot_owns(const struct cfg_slot *s, const char *n);
/* The replication slot name of shard i of s (s->name if unsharded). */
void cfg_slot_name(const struct cfg_slot *s, int shard, char *buf, size_t len);
/* Its publication (<publication>_<i> for shards). */
void cfg_slot_publication(const struct cfg_slot *s, int shard, char *buf, size_t len);
const struct cfg_sink *cfg_sink_find(const struct cfg *cfg, const char *name);
const char *cfg_snap_mode_name(enum cfg_snap_mode m);
const char *cfg_sink_type_name(enum cfg_sink_type t);

#endif
