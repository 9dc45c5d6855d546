/*
 * test_strmap: every key put is found with its latest value across many
 * growths, keys that share a prefix or differ in one byte stay apart, an
 * absent key (and any key of an empty map) gives NULL, and the map looks at
 * the key's bytes, not its address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/strmap.h"

#define N 5000

static char keys[N][24];

static void
test_many(void **state)
{
	struct strmap m = { 0 };
	char probe[24];

	(void)state;
	assert_null(strmap_get(&m, "public.t1"));
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "public.t%d", i);
		strmap_put(&m, keys[i], keys[i]);
	}
	assert_int_equal(m.n, N);
	assert_true(m.cap >= 2 * N);
	for (int i = 0; i < N; i++) {
		snprintf(probe, sizeof(probe), "public.t%d", i);	/* another address */
		assert_ptr_equal(strmap_get(&m, probe), keys[i]);
	}
	assert_null(strmap_get(&m, "public.t"));
	assert_null(strmap_get(&m, "public.t5000"));
	assert_null(strmap_get(&m, "public.T1"));
	assert_null(strmap_get(&m, ""));
	strmap_free(&m);
	assert_null(strmap_get(&m, "public.t1"));
}

static void
test_replace(void **state)
{
	struct strmap m = { 0 };
	int a, b;

	(void)state;
	strmap_put(&m, "x", &a);
	strmap_put(&m, "x", &b);
	assert_int_equal(m.n, 1);
	assert_ptr_equal(strmap_get(&m, "x"), &b);
	strmap_put(&m, "", &a);		/* the empty string is a key too */
	assert_ptr_equal(strmap_get(&m, ""), &a);
	assert_int_equal(m.n, 2);
	strmap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_replace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
