/*
 * cfg_check: the rules half of the config loader, used only by cfg.c.
 * cfg.c reads settings into struct cfg with their types and defaults;
 * cfg_check collects every problem as "file:line: path: msg" and holds the
 * rules on names, tables, sink settings and slots against each other.
 * Conninfo values never reach a message: they may carry a password.
 */
#ifndef PGCDC_CFG_CHECK_H
#define PGCDC_CFG_CHECK_H

#include <stddef.h>

#include <libconfig.h>

#include "common/cfg.h"

struct cfg_msg;

/* Loader state: the struct being filled and the problems found so far. */
struct cfg_ld {
	const char	*path;
	struct cfg	*cfg;
	const config_setting_t *slots;	/* the "slots" list, if usable */
	const config_setting_t *sinks;	/* the "sinks" list, if usable */
	struct cfg_msg	*msgs;		/* problems found, in order of finding */
	size_t		 nmsgs;
	size_t		 capmsgs;
};

/* A problem at line (0: the file as a whole), text already formatted. */
void cfg_emit(struct cfg_ld *ld, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A problem with setting `at`, or with its member `child` when not NULL; the
 * line is the member's when it exists, else the group's. */
void cfg_report(struct cfg_ld *ld, const config_setting_t *at, const char *child,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Write the problems to err sorted by line, one per line, cut at errlen;
 * free them.  ld->nmsgs keeps the count. */
void cfg_flush_msgs(struct cfg_ld *ld, char *err, size_t errlen);

/* Every member of group g must be named in known (NULL-terminated). */
void cfg_check_known(struct cfg_ld *ld, const config_setting_t *g,
    const char *const *known);

/* Slot group g, loaded into s: call each once its settings are read. */
void cfg_check_slot_name(struct cfg_ld *ld, const config_setting_t *g,
    const struct cfg_slot *s);
void cfg_check_publication(struct cfg_ld *ld, const config_setting_t *g,
    const struct cfg_slot *s);
void cfg_check_tables(struct cfg_ld *ld, const config_setting_t *g,
    const struct cfg_slot *s);

/* Sink group g: its name, its keys against type (-1: unknown), and the
 * type-specific values once read into s. */
void cfg_check_sink_name(struct cfg_ld *ld, const config_setting_t *g,
    const struct cfg_sink *s);
void cfg_check_sink_keys(struct cfg_ld *ld, const config_setting_t *g, int type);
void cfg_check_sink_values(struct cfg_ld *ld, const config_setting_t *g,
    const struct cfg_sink *s);

/* Across the loaded slots and sinks: duplicates, overlapping shards, shared
 * publications and sink references. */
void cfg_check_cross(struct cfg_ld *ld);

#endif
