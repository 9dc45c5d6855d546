/*
 * fuzz_cfg: libFuzzer target for the config loader (common/cfg.c,
 * cfg_check.c) as pgcdc run, check and every child call it: cfg_load of a
 * file.  Input: the file's bytes.  Invariant: either a config, or NULL with a
 * message; nothing crashes or leaks.  @include is left out (it reads other
 * files, trusted like the config).  Seeds: etc/ and tests/fixtures/cfg/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[4096];
	struct cfg *cfg;
	FILE *f;

	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/fuzz_cfg.%d.cfg", (int)getpid());
		log_init("fuzz", NULL);
	}
	if ((f = fopen(path, "w")) == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	cfg = cfg_load(path, err, sizeof(err));
	if (cfg == NULL && err[0] == '\0') {
		fprintf(stderr, "fuzz_cfg: refused without a message\n");
		abort();
	}
	cfg_free(cfg);
	return 0;
}
