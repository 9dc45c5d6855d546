/*
 * test_chunk: a snapshot chunk drops exactly the rows whose key the stream
 * changed, whether the drop comes before any index exists (the first drop
 * builds it), after more rows were added (kept up), past a rebuild (more
 * rows than the first table holds), or after a reset reused the buffers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "worker/chunk.h"

/* Row i: message "row <i>", key the text of i (and NULL as a 2nd column
 * when i is odd, as a whole-row key can have). */
static void
add_row(struct chunk *c, int i)
{
	char txt[32];
	struct buf *rows = chunk_row_start(c);
	int n = snprintf(txt, sizeof(txt), "row %d", i);

	buf_append(rows, txt, (size_t)n);
	n = snprintf(txt, sizeof(txt), "%d", i);
	chunk_key_put(&c->keys, txt, (uint32_t)n);
	if (i % 2)
		chunk_key_null(&c->keys);
	chunk_row_end(c);
}

static void
drop_key(struct chunk *c, int i)
{
	char txt[32];
	struct buf k = { 0 };
	int n = snprintf(txt, sizeof(txt), "%d", i);

	chunk_key_put(&k, txt, (uint32_t)n);
	if (i % 2)
		chunk_key_null(&k);
	chunk_drop(c, k.data, k.len);
	buf_free(&k);
}

/* Every row is alive except those in dropped[] (ascending, -1 ends). */
static void
check_alive(const struct chunk *c, int n, const int *dropped)
{
	char want[32];
	const uint8_t *row;
	size_t len;

	assert_int_equal(c->n, (size_t)n);
	for (int i = 0; i < n; i++) {
		row = chunk_row(c, (size_t)i, &len);
		if (*dropped == i) {
			assert_null(row);
			dropped++;
			continue;
		}
		assert_non_null(row);
		snprintf(want, sizeof(want), "row %d", i);
		assert_int_equal(len, strlen(want));
		assert_memory_equal(row, want, len);
	}
}

static void
test_drop_builds_index(void **state)
{
	struct chunk c = { 0 };
	const int d1[] = { 3, 10, -1 }, d2[] = { 3, 10, 11, 15, -1 };

	(void)state;
	drop_key(&c, 1);		/* an empty chunk: nothing to drop */
	for (int i = 0; i < 12; i++)
		add_row(&c, i);
	assert_int_equal(c.indexed, 0);
	drop_key(&c, 10);
	drop_key(&c, 3);
	drop_key(&c, 99);		/* not in the chunk */
	assert_int_equal(c.indexed, 1);
	check_alive(&c, 12, d1);
	for (int i = 12; i < 20; i++)	/* added to the index as they come */
		add_row(&c, i);
	drop_key(&c, 15);
	drop_key(&c, 11);
	check_alive(&c, 20, d2);
	chunk_free(&c);
}

static void
test_rebuild_and_reset(void **state)
{
	struct chunk c = { 0 };
	int dropped[8], nd = 0;
	const int none[] = { -1 }, d[] = { 0, 7, -1 };

	(void)state;
	for (int i = 0; i < 5000; i++)
		add_row(&c, i);
	drop_key(&c, 4999);		/* built over 5000 rows */
	for (int i = 5000; i < 20000; i++)	/* rebuilt twice while growing */
		add_row(&c, i);
	drop_key(&c, 0);
	drop_key(&c, 12345);
	drop_key(&c, 19999);
	dropped[nd++] = 0; dropped[nd++] = 4999; dropped[nd++] = 12345;
	dropped[nd++] = 19999; dropped[nd] = -1;
	check_alive(&c, 20000, dropped);
	/* Reused: nothing of the last chunk's index may match. */
	chunk_reset(&c);
	for (int i = 0; i < 10; i++)
		add_row(&c, i);
	check_alive(&c, 10, none);
	drop_key(&c, 12345);
	drop_key(&c, 7);
	drop_key(&c, 0);
	check_alive(&c, 10, d);
	chunk_drop_all(&c);
	for (int i = 0; i < 10; i++)
		assert_null(chunk_row(&c, (size_t)i, &(size_t){ 0 }));
	chunk_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_builds_index),
		cmocka_unit_test(test_rebuild_and_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
