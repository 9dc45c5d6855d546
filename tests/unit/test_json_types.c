/*
 * test_json_types: json_value's rule for every kind of PostgreSQL type
 * (DESIGN.md section 6) on the text forms PostgreSQL writes, exact output
 * checked and every output validated by json_check.h's strict parser:
 * built-in arrays (all 81 of PostgreSQL 15), arrays of user types known from
 * Type messages (types.h), both bytea output forms, dates at their limits,
 * and random or mutated input that must still give valid JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/types.h"
#include "json_check.h"

static void
test_bool_and_integers(void **state)
{
	(void)state;
	VAL(16, "t", "true");
	VAL(16, "f", "false");
	VAL(16, "true", "true");
	VAL(16, "false", "false");
	VAL(16, "T", "\"T\"");
	VAL(16, "tr", "\"tr\"");
	VAL(16, "", "\"\"");
	VAL(21, "-32768", "-32768");
	VAL(23, "0", "0");
	VAL(23, "2147483647", "2147483647");
	VAL(20, "-9223372036854775808", "-9223372036854775808");
	VAL(26, "4294967295", "4294967295");
	VAL(23, "007", "\"007\"");
	VAL(23, "12abc", "\"12abc\"");
	VAL(23, "-", "\"-\"");
	VAL(23, "+1", "\"+1\"");
	VAL(20, "", "\"\"");
}

static void
test_floats(void **state)
{
	(void)state;
	VAL(701, "1.5", "1.5");
	VAL(701, "-0", "-0");
	VAL(701, "1e+30", "1e+30");
	VAL(701, "1.2345678901234567e-05", "1.2345678901234567e-05");
	VAL(700, "3.4028235e+38", "3.4028235e+38");
	VAL(701, "NaN", "\"NaN\"");
	VAL(701, "Infinity", "\"Infinity\"");
	VAL(700, "-Infinity", "\"-Infinity\"");
	VAL(701, "1.", "\"1.\"");
	VAL(701, ".5", "\".5\"");
	VAL(701, "1e", "\"1e\"");
}

static void
test_numeric(void **state)
{
	char in[1001], want[1003];

	(void)state;
	VAL(1700, "123.4500", "\"123.4500\"");
	VAL(1700, "-0.000001", "\"-0.000001\"");
	VAL(1700, "NaN", "\"NaN\"");
	VAL(1700, "Infinity", "\"Infinity\"");
	for (int i = 0; i < 1000; i++)
		in[i] = (char)('1' + i % 9);
	in[1000] = '\0';
	snprintf(want, sizeof(want), "\"%s\"", in);
	check_val_n(1700, in, 1000, want);
}

static void
test_json_embedded(void **state)
{
	char deep[2 * 1025 + 1];

	(void)state;
	VAL(3802, "{\"a\": 1, \"b\": [true, null, \"x y\"]}", "{\"a\":1,\"b\":[true,null,\"x y\"]}");
	VAL(114, "{\n  \"a\" : [ 1 ,2 ] ,\r\n\t\"b\":{ }\n}\n", "{\"a\":[1,2],\"b\":{}}");
	VAL(114, " \"str\" ", "\"str\"");
	VAL(114, "-3.5e2", "-3.5e2");
	VAL(3802, "null", "null");
	VAL(3802, "[]", "[]");
	VAL(3802, "[{}, [[]], false]", "[{},[[]],false]");
	VAL(3802, "{\"k\\\"\\u00e9\": \"\\n \\ud83d\\ude00\"}", "{\"k\\\"\\u00e9\":\"\\n \\ud83d\\ude00\"}");
	VAL(3802, "{\"\xc3\xa9\": \"\xf0\x9f\x98\x80\"}", "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}");
	/* not JSON after all: the text as a string */
	VAL(114, "{\"a\":}", "\"{\\\"a\\\":}\"");
	VAL(114, "{\"a\" 1}", "\"{\\\"a\\\" 1}\"");
	VAL(114, "[1,]", "\"[1,]\"");
	VAL(114, "tru", "\"tru\"");
	VAL(114, "{\"a\":1}x", "\"{\\\"a\\\":1}x\"");
	VAL(114, "{\"a\":1", "\"{\\\"a\\\":1\"");
	VAL(114, "[1 2]", "\"[1 2]\"");
	VAL(114, "{1:2}", "\"{1:2}\"");
	VAL(114, "\"a\nb\"", "\"\\\"a\\nb\\\"\"");
	VAL(114, "\"a\x1f\"", "\"\\\"a\\u001f\\\"\"");
	VAL(114, "\"\\x\"", "\"\\\"\\\\x\\\"\"");
	VAL(114, "\"\xff\"", "\"\\\"" R "\\\"\"");
	VAL(114, "01", "\"01\"");
	VAL(114, "", "\"\"");
	VAL(114, "\x01\x02\x03\x04", "\"\\u0001\\u0002\\u0003\\u0004\"");	/* binary jsonb */
	/* nesting: 1024 levels embed, 1025 fall back to a string */
	memset(deep, '[', 1024);
	memset(deep + 1024, ']', 1024);
	deep[2048] = '\0';
	check_val_n(3802, deep, 2048, deep);
	memset(deep, '[', 1025);
	memset(deep + 1025, ']', 1025);
	buf_reset(&out);
	json_value(&out, 3802, (const uint8_t *)deep, 2050);
	assert_true(json_valid(out.data, out.len, NULL));
	assert_int_equal(out.data[0], '"');
	assert_int_equal(out.len, 2052);
}

static void
test_bytea(void **state)
{
	(void)state;
	VAL(17, "\\x", "\"\"");
	VAL(17, "\\x00", "\"AA==\"");
	VAL(17, "\\x0001", "\"AAE=\"");
	VAL(17, "\\x000102", "\"AAEC\"");
	VAL(17, "\\x666f6f626172", "\"Zm9vYmFy\"");
	VAL(17, "\\x666f6f6261", "\"Zm9vYmE=\"");
	VAL(17, "\\xdeadbeef", "\"3q2+7w==\"");
	VAL(17, "\\xDEADBEEF", "\"3q2+7w==\"");
	VAL(17, "\\xfbff", "\"+/8=\"");
	VAL(17, "\\x0", "\"\\\\x0\"");
	VAL(17, "\\x0g", "\"\\\\x0g\"");
	/* bytea_output = escape */
	VAL(17, "abc\\000", "\"YWJjAA==\"");
	VAL(17, "\\000", "\"AA==\"");
	VAL(17, "abcd", "\"YWJjZA==\"");
	VAL(17, "\\\\", "\"XA==\"");			/* one backslash */
	VAL(17, "\\377\\200~ ", "\"/4B+IA==\"");
	VAL(17, "", "\"\"");
	/* neither form */
	VAL(17, "\\X00", "\"\\\\X00\"");
	VAL(17, "\\400", "\"\\\\400\"");
	VAL(17, "\\08", "\"\\\\08\"");
	VAL(17, "\\00", "\"\\\\00\"");
	VAL(17, "a\\", "\"a\\\\\"");
	VAL(17, "tab\there", "\"tab\\there\"");	/* escape form has no raw controls */
	VAL(17, "\xc3\xa9", "\"\xc3\xa9\"");	/* ... nor raw non-ASCII */
}

static void
test_dates_and_times(void **state)
{
	(void)state;
	VAL(1082, "2024-01-02", "\"2024-01-02\"");
	VAL(1082, "0044-03-15 BC", "\"0044-03-15 BC\"");
	VAL(1082, "infinity", "\"infinity\"");
	VAL(1114, "2024-01-02 03:04:05.123456", "\"2024-01-02T03:04:05.123456\"");
	VAL(1114, "2024-01-02 03:04:05", "\"2024-01-02T03:04:05\"");
	VAL(1114, "0044-03-15 12:00:00 BC", "\"0044-03-15T12:00:00 BC\"");
	VAL(1114, "10000-01-01 00:00:00", "\"10000-01-01T00:00:00\"");
	VAL(1114, "infinity", "\"infinity\"");
	VAL(1114, "-infinity", "\"-infinity\"");
	VAL(1114, "2024-01-02 3:04:05", "\"2024-01-02 3:04:05\"");
	VAL(1114, "2024-01-02 03:04:05.", "\"2024-01-02 03:04:05.\"");
	VAL(1114, "2024-01-02 03:04:05+00", "\"2024-01-02 03:04:05+00\"");
	VAL(1184, "2024-01-02 03:04:05.12+00", "\"2024-01-02T03:04:05.12Z\"");
	VAL(1184, "2024-01-02 03:04:05+00", "\"2024-01-02T03:04:05Z\"");
	VAL(1184, "2024-01-02 03:04:05.999999+00", "\"2024-01-02T03:04:05.999999Z\"");
	VAL(1184, "2024-01-02 03:04:05+05:30", "\"2024-01-02T03:04:05+05:30\"");
	VAL(1184, "2024-01-02 03:04:05-03", "\"2024-01-02T03:04:05-03:00\"");
	VAL(1184, "2024-01-02 03:04:05+00:00", "\"2024-01-02T03:04:05Z\"");
	VAL(1184, "1900-01-01 00:00:00+00:53:28", "\"1900-01-01T00:00:00+00:53:28\"");
	VAL(1184, "0044-03-15 12:00:00+00 BC", "\"0044-03-15T12:00:00Z BC\"");
	VAL(1184, "infinity", "\"infinity\"");
	VAL(1184, "-infinity", "\"-infinity\"");
	VAL(1184, "2024-01-02 03:04:05", "\"2024-01-02 03:04:05\"");
	VAL(1184, "2024-01-02 03:04:05+0", "\"2024-01-02 03:04:05+0\"");
	VAL(1184, "2024-01-02 03:04:05+00 AD", "\"2024-01-02 03:04:05+00 AD\"");
	VAL(1083, "03:04:05.5", "\"03:04:05.5\"");
	VAL(1083, "24:00:00", "\"24:00:00\"");
	VAL(1266, "03:04:05+00", "\"03:04:05Z\"");
	VAL(1266, "03:04:05.123456+05:30", "\"03:04:05.123456+05:30\"");
	VAL(1266, "03:04:05-03", "\"03:04:05-03:00\"");
	VAL(1266, "24:00:00-15:59", "\"24:00:00-15:59\"");
	VAL(1266, "00:00:00+00:53:28", "\"00:00:00+00:53:28\"");
	VAL(1266, "03:04:05", "\"03:04:05\"");
	VAL(1266, "3:04:05+00", "\"3:04:05+00\"");
	VAL(1266, "03:04:05+00 BC", "\"03:04:05+00 BC\"");
	VAL(1266, "03:04:05.+00", "\"03:04:05.+00\"");
	VAL(1266, "03:04:05+0", "\"03:04:05+0\"");
}

static void
test_text_like(void **state)
{
	(void)state;
	VAL(25, "say \"hi\"\n", "\"say \\\"hi\\\"\\n\"");
	VAL(1043, "x", "\"x\"");
	VAL(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
	VAL(869, "192.168.0.1/24", "\"192.168.0.1/24\"");
	VAL(1186, "1 day 02:00:00", "\"1 day 02:00:00\"");
	VAL(790, "$1,000.00", "\"$1,000.00\"");
	VAL(142, "<a>&amp;</a>", "\"<a>&amp;</a>\"");
	VAL(999999, "42", "\"42\"");
	buf_reset(&out);
	json_value(&out, 25, NULL, 0);
	expect("\"\"");
}

static void
test_arrays(void **state)
{
	(void)state;
	VAL(1007, "{1,2,3}", "[1,2,3]");
	VAL(1007, "{}", "[]");
	VAL(1007, "{{1,2},{3,4}}", "[[1,2],[3,4]]");
	VAL(1007, "{{{1}},{{2}}}", "[[[1]],[[2]]]");
	VAL(1007, "{1,NULL,3}", "[1,null,3]");
	VAL(1007, "[0:1]={1,2}", "[1,2]");
	VAL(1007, "[1:2][-1:0]={{1,2},{3,4}}", "[[1,2],[3,4]]");
	VAL(1007, "{1,x}", "[1,\"x\"]");
	VAL(1005, "{-1,32767}", "[-1,32767]");
	VAL(1016, "{-9223372036854775808}", "[-9223372036854775808]");
	VAL(1028, "{1,4294967295}", "[1,4294967295]");
	VAL(1000, "{t,f,NULL}", "[true,false,null]");
	VAL(1009, "{a,b,\"c d\",NULL,\"NULL\",\"\",null}", "[\"a\",\"b\",\"c d\",null,\"NULL\",\"\",null]");
	VAL(1009, "{\"a\\\"b\",\"c\\\\d\",\"{x}\",\"x,y\"}", "[\"a\\\"b\",\"c\\\\d\",\"{x}\",\"x,y\"]");
	VAL(1009, "{a\\,b}", "[\"a,b\"]");
	VAL(1009, "{\"\xc3\xa9\n\",\xff}", "[\"\xc3\xa9\\n\",\"" R "\"]");
	VAL(1015, "{x,\"y z\"}", "[\"x\",\"y z\"]");
	VAL(1014, "{\"ab  \",c}", "[\"ab  \",\"c\"]");
	VAL(1021, "{1.5,NaN,-Infinity}", "[1.5,\"NaN\",\"-Infinity\"]");
	VAL(1022, "{Infinity,1e+30,-0}", "[\"Infinity\",1e+30,-0]");
	VAL(1231, "{1.50,NaN}", "[\"1.50\",\"NaN\"]");
	VAL(199, "{\"{\\\"a\\\": 1}\",\"[1, 2]\",NULL}", "[{\"a\":1},[1,2],null]");
	VAL(3807, "{\"{\\\"s\\\": \\\"q\\\\\\\\\\\\\\\"\\\"}\",3}", "[{\"s\":\"q\\\\\\\"\"},3]");
	VAL(1182, "{2024-01-02,\"0044-03-15 BC\",infinity}", "[\"2024-01-02\",\"0044-03-15 BC\",\"infinity\"]");
	VAL(1115, "{\"2024-01-02 03:04:05.5\"}", "[\"2024-01-02T03:04:05.5\"]");
	VAL(1185, "{\"2024-01-02 03:04:05+00\",\"2024-01-02 03:04:05.5+00\",infinity}",
	    "[\"2024-01-02T03:04:05Z\",\"2024-01-02T03:04:05.5Z\",\"infinity\"]");
	VAL(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "[\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"]");
	VAL(1001, "{\"\\\\x0102\",\"\\\\x\"}", "[\"AQI=\",\"\"]");
}

static void
test_arrays_malformed(void **state)
{
	static const char *bad[] = {
		"", "1,2", "{1,2", "{1,,2}", "{,1}", "{1,}", "{1}x", "{\"a}", "{\"a\"b}",
		"{{1},2}", "{1,{2}}", "{{1},{2}", "[0:1]{1}", "[0:1={1}", "[a:1]={1}",
		"{a\\", "{a\"b}", "{a{b}", "{{{{{{{1}}}}}}}", "}", "{}{}",
	};

	(void)state;
	for (size_t i = 0; i < NELEM(bad); i++) {
		char want[64], *w = want;

		*w++ = '"';
		for (const char *c = bad[i]; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')	/* as json_str escapes them */
				*w++ = '\\';
			*w++ = *c;
		}
		*w++ = '"';
		*w = '\0';
		check_val_n(1007, bad[i], strlen(bad[i]), want);
	}
	/* six dimensions are the most PostgreSQL writes */
	VAL(1007, "{{{{{{1}}}}}}", "[[[[[[1]]]]]]");
}

/* Random mutations of each rule's inputs: output stays valid JSON. */
static void
test_value_mutations(void **state)
{
	static const struct { uint32_t oid; const char *text; } seeds[] = {
		{ 16, "t" }, { 23, "-123" }, { 701, "1.5e+30" }, { 1700, "1.5" },
		{ 114, "{\"a\": [1, \"x\\\"y\", {\"b\": null}]}" }, { 17, "\\x0a0b0c" },
		{ 1114, "2024-01-02 03:04:05.5" }, { 1184, "2024-01-02 03:04:05+05:30 BC" },
		{ 1007, "[0:1]={{1,2},{3,NULL}}" }, { 1009, "{a,\"b \\\" c\",NULL}" },
		{ 199, "{\"{\\\"a\\\": 1}\",NULL}" }, { 1185, "{\"2024-01-02 03:04:05+00\"}" },
		{ 1001, "{\"\\\\x0102\"}" }, { 25, "text" }, { 1266, "03:04:05.5+05:30" },
		{ 17, "ab\\\\\\001~" }, { 1020, "{(1,1),(0,0);(2,2),(1,1)}" },
		{ 16390, "{{a,\"b c\"},{NULL,\"\\\\\"}}" },
	};
	static const char hot[] = "{}[]\",;\\:=-+.eE0129 NULLtfx\n\x80\xc3\xff";
	uint8_t in[64];

	(void)state;
	types_put(16390, "public", "_t");
	for (int iter = 0; iter < 8000; iter++) {
		size_t s = rng(NELEM(seeds)), n = strlen(seeds[s].text);

		memcpy(in, seeds[s].text, n);
		for (uint32_t m = rng(4); m > 0; m--) {
			size_t at = n ? rng((uint32_t)n) : 0;
			uint8_t c = rng(2) ? (uint8_t)hot[rng(sizeof(hot) - 1)] : (uint8_t)rng(256);

			if (rng(3) == 0 && n > 0) {
				memmove(in + at, in + at + 1, n - at - 1);
				n--;
			} else if (rng(2) == 0 && n < sizeof(in)) {
				memmove(in + at + 1, in + at, n - at);
				in[at] = c;
				n++;
			} else if (n > 0)
				in[at] = c;
		}
		buf_reset(&out);
		json_value(&out, seeds[s].oid, in, n);
		assert_true(json_valid(out.data, out.len, NULL));
		assert_null(memchr(out.data, '\n', out.len));
	}
}

static void
test_date_extremes(void **state)
{
	(void)state;
	VAL(1082, "5874897-12-31", "\"5874897-12-31\"");
	VAL(1082, "4714-11-24 BC", "\"4714-11-24 BC\"");
	VAL(1082, "-infinity", "\"-infinity\"");
	VAL(1114, "294276-12-31 23:59:59.999999", "\"294276-12-31T23:59:59.999999\"");
	VAL(1114, "4714-11-24 00:00:00 BC", "\"4714-11-24T00:00:00 BC\"");
	VAL(1114, "0001-12-31 23:59:59.000001 BC", "\"0001-12-31T23:59:59.000001 BC\"");
	VAL(1184, "4714-11-24 00:00:00+00 BC", "\"4714-11-24T00:00:00Z BC\"");
	VAL(1184, "294276-12-31 23:59:59.999999+00", "\"294276-12-31T23:59:59.999999Z\"");
	VAL(1184, "2024-02-29 12:00:00-09:30", "\"2024-02-29T12:00:00-09:30\"");
	VAL(1184, "2024-01-02 03:04:05+00 BCE", "\"2024-01-02 03:04:05+00 BCE\"");
	VAL(1114, "2024-01-02T03:04:05", "\"2024-01-02T03:04:05\"");
}

static void
test_float_extremes(void **state)
{
	(void)state;
	VAL(701, "5e-324", "5e-324");
	VAL(701, "1.7976931348623157e+308", "1.7976931348623157e+308");
	VAL(701, "-2.2250738585072014e-308", "-2.2250738585072014e-308");
	VAL(700, "-0", "-0");
	VAL(700, "1.4e-45", "1.4e-45");
	VAL(700, "NaN", "\"NaN\"");
	VAL(701, "-NaN", "\"-NaN\"");
	VAL(701, "inf", "\"inf\"");
	VAL(20, "1e3", "1e3");		/* never written by int8out; still a number */
	VAL(26, "-1", "-1");
}

/* Every built-in array type renders as an array, nothing else below 10000
 * does: 81 types in PostgreSQL 15 (a misordered table loses some). */
static void
test_builtin_arrays_all(void **state)
{
	static const uint32_t some[] = {
		143, 199, 210, 271, 629, 651, 719, 775, 791, 1000, 1001, 1006, 1013,
		1017, 1020, 1027, 1034, 1040, 1041, 1187, 1231, 1263, 1270, 1561,
		1563, 2201, 2211, 2949, 2951, 3221, 3643, 3645, 3735, 3807, 3905,
		3913, 3927, 4073, 4192, 5039, 6150, 6157,
	};
	size_t arrays = 0;

	(void)state;
	for (uint32_t oid = 0; oid < 10000; oid++) {
		buf_reset(&out);
		json_value(&out, oid, (const uint8_t *)"{1,NULL}", 8);
		assert_true(json_valid(out.data, out.len, NULL));
		arrays += out.data[0] == '[';
	}
	assert_int_equal(arrays, 81);
	for (size_t i = 0; i < NELEM(some); i++) {
		buf_reset(&out);
		json_value(&out, some[i], (const uint8_t *)"{}", 2);
		assert_int_equal(out.len, 2);
		assert_memory_equal(out.data, "[]", 2);
	}
	/* vectors are category A but print "1 2": text */
	VAL(22, "1 2", "\"1 2\"");
	VAL(30, "{1,2}", "\"{1,2}\"");
	VAL(1006, "{\"1 2\",3}", "[\"1 2\",\"3\"]");
}

/* Elements follow their type's rule: text form for all the "everything
 * else" types, the typed rules for the rest. */
static void
test_array_elements(void **state)
{
	(void)state;
	VAL(791, "{$1.00,\"-$1,000.50\",NULL}", "[\"$1.00\",\"-$1,000.50\",null]");
	VAL(1187, "{\"1 day 02:00:00\",-00:00:01,NULL}", "[\"1 day 02:00:00\",\"-00:00:01\",null]");
	VAL(1041, "{192.168.0.1,::1/128}", "[\"192.168.0.1\",\"::1/128\"]");
	VAL(1017, "{\"(1,2)\",\"(-0.5,1e+300)\"}", "[\"(1,2)\",\"(-0.5,1e+300)\"]");
	VAL(1020, "{(1,1),(0,0);(3,3),(2,2)}", "[\"(1,1),(0,0)\",\"(3,3),(2,2)\"]");
	VAL(1020, "{{(1,1),(0,0)};{NULL}}", "[[\"(1,1),(0,0)\"],[null]]");
	VAL(1020, "{(1,1),(0,0),(3,3),(2,2)}", "[\"(1,1),(0,0),(3,3),(2,2)\"]");
	VAL(1561, "{1010,0000}", "[\"1010\",\"0000\"]");
	VAL(3643, "{\"'a' 'b':1\",\"\"}", "[\"'a' 'b':1\",\"\"]");
	VAL(143, "{\"<a x=\\\"1\\\">\\\\</a>\"}", "[\"<a x=\\\"1\\\">\\\\</a>\"]");
	VAL(3221, "{0/16B3748,NULL}", "[\"0/16B3748\",null]");
	VAL(3905, "{\"[1,3)\",empty}", "[\"[1,3)\",\"empty\"]");
	VAL(6150, "{\"{[1,3),[5,7)}\",\"{}\"}", "[\"{[1,3),[5,7)}\",\"{}\"]");
	VAL(273, "{\"(1,\\\"a b\\\")\"}", "[\"(1,\\\"a b\\\")\"]");
	VAL(1270, "{03:04:05+00,\"03:04:05.5-03\"}", "[\"03:04:05Z\",\"03:04:05.5-03:00\"]");
	VAL(1183, "{03:04:05,24:00:00}", "[\"03:04:05\",\"24:00:00\"]");
	VAL(1001, "{\"\\\\x00ff\",abc,\"\\\\\\\\\\\\000\"}", "[\"AP8=\",\"YWJj\",\"XAA=\"]");
	VAL(1022, "{{-0,NaN},{NULL,5e-324}}", "[[-0,\"NaN\"],[null,5e-324]]");
	VAL(1000, "{{t,f},{NULL,t}}", "[[true,false],[null,true]]");
	VAL(1231, "{{1.5},{NaN},{-Infinity}}", "[[\"1.5\"],[\"NaN\"],[\"-Infinity\"]]");
	VAL(1009, "{\"a\\\\b\\\"c\",\"\x01\t\",\"\xf0\x9f\x98\x80\",\"\xc3\"}",
	    "[\"a\\\\b\\\"c\",\"\\u0001\\t\",\"\xf0\x9f\x98\x80\",\"" R "\"]");
	VAL(1009, "[-2:-1][3:3]={{a},{NULL}}", "[[\"a\"],[null]]");
}

static void
test_user_arrays(void **state)
{
	(void)state;
	types_reset();
	assert_false(types_is_array(16390));
	VAL(16390, "{sad,\"so so\",NULL}", "\"{sad,\\\"so so\\\",NULL}\"");
	types_put(16389, "public", "mood");
	types_put(16390, "public", "_mood");
	types_put(16391, "public", "_pair");
	types_put(16392, "public", "__mood");	/* array of "_mood", a type so named */
	assert_true(types_is_array(16390));
	assert_false(types_is_array(16389));
	/* elements as text, whatever they look like; NULL is null */
	VAL(16390, "{sad,\"so so\",NULL,\"NULL\"}", "[\"sad\",\"so so\",null,\"NULL\"]");
	VAL(16390, "{{1,2},{3,4}}", "[[\"1\",\"2\"],[\"3\",\"4\"]]");
	VAL(16390, "{}", "[]");
	VAL(16391, "{\"(1,\\\"x,y\\\")\",NULL}", "[\"(1,\\\"x,y\\\")\",null]");
	VAL(16392, "{a}", "[\"a\"]");
	VAL(16389, "{sad}", "\"{sad}\"");
	/* a user type named "_x" that is no array: the text does not parse */
	types_put(16393, "public", "_weird");
	VAL(16393, "(1,2)", "\"(1,2)\"");
	/* domains are described by their base type: over int4, over text[] */
	types_put(16394, "pg_catalog", "int4");
	types_put(16395, "pg_catalog", "_text");
	VAL(16394, "5", "\"5\"");
	VAL(16395, "{a,b}", "\"{a,b}\"");
	/* information_schema's arrays are no built-ins */
	types_put(13225, "information_schema", "_sql_identifier");
	VAL(13225, "{a,NULL}", "[\"a\",null]");
	/* the built-in table decides below 10000, whatever a message says */
	types_put(25, "public", "_text");
	VAL(25, "{a}", "\"{a}\"");
	/* a dropped array type's oid reused by a non-array type */
	types_put(16390, "public", "mood2");
	assert_false(types_is_array(16390));
	VAL(16390, "{sad}", "\"{sad}\"");
	assert_true(types_is_array(16391));
	assert_true(types_is_array(16392));
	types_reset();
	VAL(16391, "{a}", "\"{a}\"");
}

/* Many types in random order: lookups agree with a plain list. */
static void
test_user_arrays_many(void **state)
{
	static bool is_array[4096];

	(void)state;
	types_reset();
	memset(is_array, 0, sizeof(is_array));
	for (int i = 0; i < 20000; i++) {
		uint32_t k = rng(4096);
		bool arr = rng(3) != 0;

		types_put(16384 + k, "s", arr ? "_t" : "t");
		is_array[k] = arr;
	}
	for (uint32_t k = 0; k < 4096; k++)
		assert_int_equal(types_is_array(16384 + k), is_array[k]);
	assert_false(types_is_array(16383));
	assert_false(types_is_array(16384 + 4096));
	types_reset();
}

static const char b64tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decode a quoted base64 JSON string; -1 if it is not canonical base64. */
static int
b64_decode(const uint8_t *p, size_t n, uint8_t *to, size_t *len)
{
	uint32_t acc = 0;
	size_t pad = 0;

	*len = 0;
	if (n < 2 || p[0] != '"' || p[n - 1] != '"' || (n - 2) % 4 != 0)
		return -1;
	for (size_t i = 1; i < n - 1; i++) {
		const char *c = p[i] == '=' ? b64tab : strchr(b64tab, p[i]);

		if (c == NULL || p[i] == '\0' || (pad > 0 && p[i] != '='))
			return -1;
		pad += p[i] == '=';
		acc = acc << 6 | (uint32_t)(c - b64tab);
		if ((i - 1) % 4 == 3) {
			for (size_t k = 0; k < 3 - pad; k++)
				to[(*len)++] = (uint8_t)(acc >> (16 - 8 * k));
			acc = 0;
		}
	}
	return pad > 2 ? -1 : 0;
}

/* Random bytes in both bytea output forms decode back to themselves. */
static void
test_bytea_random(void **state)
{
	uint8_t bytes[40], dec[64];
	char hex[2 + 80 + 1], esc[4 * 40 + 1];

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = rng(sizeof(bytes) + 1), hl = 2, el = 0, len;

		memcpy(hex, "\\x", 2);
		for (size_t i = 0; i < n; i++) {
			bytes[i] = rng(2) ? (uint8_t)rng(256) : (uint8_t)"\\\x00 ~\x7f\x80\xff"[rng(7)];
			hl += (size_t)sprintf(hex + hl, "%02x", bytes[i]);
			if (bytes[i] == '\\')
				el += (size_t)sprintf(esc + el, "\\\\");
			else if (bytes[i] < 0x20 || bytes[i] > 0x7e)
				el += (size_t)sprintf(esc + el, "\\%03o", bytes[i]);
			else
				esc[el++] = (char)bytes[i];
		}
		for (int form = 0; form < 2; form++) {
			buf_reset(&out);
			json_value(&out, 17, (const uint8_t *)(form ? esc : hex), form ? el : hl);
			assert_int_equal(b64_decode(out.data, out.len, dec, &len), 0);
			assert_int_equal(len, n);
			if (n > 0)
				assert_memory_equal(dec, bytes, n);
		}
	}
}

static int
teardown(void **state)
{
	(void)state;
	buf_free(&out);
	types_reset();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bool_and_integers),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_float_extremes),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_json_embedded),
		cmocka_unit_test(test_bytea),
		cmocka_unit_test(test_bytea_random),
		cmocka_unit_test(test_dates_and_times),
		cmocka_unit_test(test_date_extremes),
		cmocka_unit_test(test_text_like),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_arrays_malformed),
		cmocka_unit_test(test_builtin_arrays_all),
		cmocka_unit_test(test_array_elements),
		cmocka_unit_test(test_user_arrays),
		cmocka_unit_test(test_user_arrays_many),
		cmocka_unit_test(test_value_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
