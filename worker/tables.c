/*
 * tables: patterns and shards resolved to a table list (see tables.h).
 * Names are "schema.table" (unquoted) in the config's order, a pattern's
 * matches in name order, without duplicates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pgconn.h"
#include "worker/tables.h"

static char *
dup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		fatal(1, "%s: out of memory", __func__);
	return d;
}

static void
add(struct cfg_slot *s, const char *table)
{
	if ((s->ntables & 63) == 0 &&
	    (s->tables = realloc(s->tables, (s->ntables + 64) * sizeof(*s->tables))) == NULL)
		fatal(1, "%s: out of memory", __func__);
	s->tables[s->ntables++] = dup(table);
}

/* "*" -> "%", LIKE's own '%', '_' and '\' escaped. */
static void
like_pattern(const char *p, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 3 < len; i++) {
		if (p[i] == '*') {
			out[o++] = '%';
			continue;
		}
		if (p[i] == '%' || p[i] == '_' || p[i] == '\\')
			out[o++] = '\\';
		out[o++] = p[i];
	}
	out[o] = '\0';
}

static int
expand(PGconn *c, const char *pattern, struct cfg_slot *out)
{
	const char *dot = strchr(pattern, '.');
	char nsp[256], rel[256];
	const char *p[2] = { nsp, rel };
	PGresult *r;

	if (dot == NULL)
		return -1;	/* the config check refuses these */
	like_pattern(pattern, (size_t)(dot - pattern), nsp, sizeof(nsp));
	like_pattern(dot + 1, strlen(dot + 1), rel, sizeof(rel));
	r = PQexecParams(c, "SELECT n.nspname || '.' || c.relname FROM pg_class c "
	    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
	    "AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
	    "AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname LIKE $1 AND c.relname LIKE $2 "
	    "ORDER BY 1", 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("tables matching %s: %s", pattern, strtok(PQerrorMessage(c), "\n"));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++)
		add(out, PQgetvalue(r, i, 0));
	if (PQntuples(r) == 0)
		log_warn("no table matches %s (yet)", pattern);
	PQclear(r);
	return 0;
}

/* Drop repeated names, keeping the first (the config's order is the
 * snapshot's order). */
static void
unique(struct cfg_slot *s)
{
	size_t keep = 0;

	for (size_t i = 0; i < s->ntables; i++) {
		size_t j = 0;

		while (j < keep && strcmp(s->tables[j], s->tables[i]) != 0)
			j++;
		if (j < keep)
			free(s->tables[i]);
		else
			s->tables[keep++] = s->tables[i];
	}
	s->ntables = keep;
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* Keep the tables of shard `shard` of base slot `base` (N shards). */
static int
keep_shard(struct cfg_slot *s, const char *base, int shard, int n, struct ckpt *ck)
{
	struct ckpt_batch batch = { 0 };
	char key[CKPT_KEY_MAX + 1];
	size_t keep = 0;
	int rc = 0;

	for (size_t i = 0; i < s->ntables; i++) {
		lsn_t at = 0;
		int found;

		snprintf(key, sizeof(key), "shard/%s/%s", base, s->tables[i]);
		if ((found = ckpt_get_lsn(ck, key, &at)) < 0) {
			rc = -1;
			break;
		}
		if (!found) {
			at = fnv1a(s->tables[i]) % (uint32_t)n;
			ckpt_put_lsn(&batch, key, at);
		}
		if ((int)at == shard)
			s->tables[keep++] = s->tables[i];
		else
			free(s->tables[i]);
	}
	for (size_t i = keep; rc < 0 && i < s->ntables; i++)
		free(s->tables[i]);
	s->ntables = keep;
	if (rc == 0 && ckpt_commit(ck, &batch) < 0)
		rc = -1;
	ckpt_batch_free(&batch);
	return rc;
}

int
tables_resolve(const struct cfg *cfg, const char *name, struct ckpt *ck,
    struct cfg_slot *out)
{
	int shard = 0, patterns = 0, rc = 0;
	const struct cfg_slot *s = cfg_slot_shard(cfg, name, &shard);
	char pub[256];
	enum pgconn_err err;
	PGconn *c = NULL;

	if (s == NULL) {
		log_error("slot %s is not in %s", name, cfg->path);
		return 2;
	}
	*out = *s;
	out->name = dup(name);
	cfg_slot_publication(s, shard, pub, sizeof(pub));
	out->publication = dup(pub);
	out->shards = 1;
	out->tables = NULL;
	out->ntables = 0;
	for (size_t i = 0; i < s->ntables; i++)
		patterns |= strchr(s->tables[i], '*') != NULL;
	if (patterns && (c = pgconn_open(cfg->conninfo, cfg->password_file, 0,
	    "pgcdc-setup", &err)) == NULL)
		return err == PGCONN_FATAL ? 2 : 1;
	for (size_t i = 0; i < s->ntables && rc == 0; i++)
		if (!strchr(s->tables[i], '*'))
			add(out, s->tables[i]);
		else if (expand(c, s->tables[i], out) < 0)
			rc = 1;
	if (c != NULL)
		PQfinish(c);
	unique(out);
	if (rc == 0 && s->shards > 1 && keep_shard(out, s->name, shard, s->shards, ck) < 0)
		rc = 1;
	if (rc == 0)
		log_info("slot %s: %zu table(s)%s", name, out->ntables,
		    s->shards > 1 ? " (this shard's)" : "");
	return rc;
}

int
tables_changed(const struct cfg *cfg, struct ckpt *ck, const struct cfg_slot *s)
{
	struct cfg_slot now;
	int changed;

	if (tables_resolve(cfg, s->name, ck, &now) != 0)
		return 0;
	changed = now.ntables != s->ntables;
	for (size_t i = 0; !changed && i < s->ntables; i++)
		changed = strcmp(now.tables[i], s->tables[i]) != 0;
	tables_free(&now);
	return changed;
}

void
tables_free(struct cfg_slot *s)
{
	for (size_t i = 0; i < s->ntables; i++)
		free(s->tables[i]);
	free(s->tables);
	free(s->name);
	free(s->publication);
	memset(s, 0, sizeof(*s));
}
