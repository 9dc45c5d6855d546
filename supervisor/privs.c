/*
 * privs: who `pgcdc run` runs as.  As root it refuses unless told
 * (allow_root, --allow-root) or given `user`: then it creates state_dir and
 * run_dir, hands them (and the log file) to that user and drops to it with
 * initgroups/setgid/setuid before it opens anything else.  Children inherit
 * the dropped ids, so no pgcdc process ever holds root.
 */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "common/secure.h"
#include "common/util.h"
#include "supervisor/sup.h"

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if ((st->st_uid != chown_uid || st->st_gid != chown_gid) &&
	    lchown(path, chown_uid, chown_gid) < 0) {
		log_error("%s: chown %s: %s", "sup_privs", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* state_dir and run_dir (0700, whole trees: an earlier run as root may have
 * left LMDB files there) and the log file become the user's. */
static int
hand_over(const struct cfg *cfg, const struct passwd *pw)
{
	struct stat st;

	chown_uid = pw->pw_uid;
	chown_gid = pw->pw_gid;
	if (util_mkdir_p(cfg->state_dir, 0700) < 0 || util_mkdir_p(cfg->run_dir, 0700) < 0 ||
	    nftw(cfg->state_dir, chown_one, 16, FTW_PHYS) != 0 ||
	    nftw(cfg->run_dir, chown_one, 16, FTW_PHYS) != 0)
		return -1;
	if (cfg->log_file[0] && lstat(cfg->log_file, &st) == 0 && S_ISREG(st.st_mode))
		return chown_one(cfg->log_file, &st, 0, NULL);
	return 0;
}

static int
drop_to(const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error("%s: cannot become user %s: %s", __func__, pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("%s: still able to regain root after dropping to %s", __func__,
		    pw->pw_name);
		return -1;
	}
	/* Changing ids resets dumpable to fs.suid_dumpable: set it again. */
	if (secure_process() < 0)
		return -1;
	/* libpq finds ~/.pgpass through HOME: the user's, not root's. */
	setenv("HOME", pw->pw_dir, 1);
	setenv("USER", pw->pw_name, 1);
	setenv("LOGNAME", pw->pw_name, 1);
	return 0;
}

/* The children re-read the config by path: the user must be able to. */
static int
readable(const char *config, const char *user)
{
	if (access(config, R_OK) == 0)
		return 0;
	log_error("config %s is not readable by user %s: %s; fix: chgrp %s %s && "
	    "chmod 0640 %s", config, user, strerror(errno), user, config, config);
	return -1;
}

static int
has_password(const char *conninfo)
{
	PQconninfoOption *o = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
	int found = 0;

	for (PQconninfoOption *p = o; p && p->keyword; p++)
		if (strcmp(p->keyword, "password") == 0 && p->val && p->val[0])
			found = 1;
	PQconninfoFree(o);
	return found;
}

/* Secrets where pgcdc cannot keep them private; never printed. */
static void
warn_secrets(const struct cfg *cfg)
{
	if (getenv("PGPASSWORD") != NULL)
		log_warn("PGPASSWORD is set: every worker and sink inherits it in its "
		    "environment; prefer source.password_file or a pgpass file");
	if (has_password(cfg->conninfo))
		log_warn("source.conninfo holds a password: keep the config file private "
		    "(0600, or 0640 with pgcdc's group) or move it to source.password_file");
	for (size_t i = 0; i < cfg->nsinks; i++)
		if (has_password(cfg->sinks[i].conninfo))
			log_warn("sink %s: conninfo holds a password: keep the config file "
			    "private or use a pgpass file (PGPASSFILE)", cfg->sinks[i].name);
}

int
sup_privs(const struct cfg *cfg, const char *config, int allow_root)
{
	struct passwd *pw = NULL;

	warn_secrets(cfg);
	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL) {
		log_error("user = \"%s\": no such user; fix: create it (useradd --system "
		    "%s) or change the setting", cfg->user, cfg->user);
		return -1;
	}
	if (geteuid() != 0) {
		if (pw != NULL && pw->pw_uid != geteuid()) {
			log_error("user = \"%s\": pgcdc runs as uid %d and cannot switch; fix: "
			    "start it as root or as %s", cfg->user, (int)geteuid(), cfg->user);
			return -1;
		}
		return 0;
	}
	if (pw == NULL) {
		if (allow_root || cfg->allow_root) {
			log_warn("running as root (allow_root)");
			return 0;
		}
		log_error("pgcdc refuses to run as root: it holds database credentials and "
		    "reads network input; fix: set user = \"pgcdc\" in %s (pgcdc drops to it), "
		    "start it as that user, or set allow_root = true (or pass --allow-root)",
		    config);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("user = \"%s\" is root; fix: name an unprivileged user", cfg->user);
		return -1;
	}
	if (hand_over(cfg, pw) < 0 || drop_to(pw) < 0 || readable(config, cfg->user) < 0)
		return -1;
	log_info("running as user %s (uid %d, gid %d)", pw->pw_name, (int)pw->pw_uid,
	    (int)pw->pw_gid);
	return 0;
}
