#!/usr/bin/env bash
# JSON rendering of every kind of column type (DESIGN.md section 6), checked
# value by value against an independent oracle: a trigger computes each
# row's expected JSON in SQL with an explicit rule per type (to_jsonb of the
# value, of its text, of its base64, PostgreSQL's own to_json for
# timestamps, ...), arrays element by element with their dimensions.  One
# table with ~100 columns (built-in scalars, extension and user types: enum,
# composite, domains, ranges, multiranges, hstore, citext; arrays of most,
# with NULL elements, 2 and 3 dimensions, empty) fed with edge values (NaN,
# +-Infinity, -0, 1000-digit numeric, BC and infinite dates, microseconds,
# quotes, backslashes, control characters, emoji, 3 kB out-of-line text).
# Half the rows arrive by the snapshot (op r), half streamed (op c), then
# updates (op u, with the full old row: REPLICA IDENTITY FULL, and unchanged
# TOAST) and deletes.  The database's own settings are hostile (DateStyle
# SQL/DMY, IntervalStyle sql_standard, TimeZone, extra_float_digits 0,
# bytea_output escape): pgcdc must not depend on them.  Every line written
# must be strict JSON in UTF-8.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../pgcdc.sh"
t_setup
N=200

# ---- the columns: name, type, oracle rule, values (SQL literals, or raw
# SQL expressions marked X(...); None is NULL).  Row i takes value
# (i + column number) mod count.
cat >"$T_DIR/spec.py" <<'PY'
X = lambda e: ("expr", e)
BIG = X("(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100) g)")
NUM1000 = "9" * 1000
NUMDOT = "-" + "1234567890" * 60 + "." + "0987654321" * 40
HEX256 = "\\x" + "".join("%02x" % i for i in range(256))
TEXTS = ["", "plain", "quote \" and backslash \\ and 'single'", "new\nline\tand\r\nCRLF",
         "ctl \x01\x02\x1b\x1f\x7f", "emoji \U0001F600 é 日本 \u2028", "NULL", "{1,2}", "\"", "\\",
         "  padded  ", BIG, None]
COLS = [
    ("b", "bool", "bool", ["true", "false", None]),
    ("i2", "int2", "int", ["0", "-32768", "32767", None]),
    ("i4", "int4", "int", ["0", "-2147483648", "2147483647", "42", None]),
    ("i8", "int8", "int", ["-9223372036854775808", "9223372036854775807", "0", None]),
    ("o", "oid", "oid", ["0", "4294967295", "16384", None]),
    ("n", "numeric", "numeric", ["0", "-0.000001", "123.4500", "NaN", "Infinity", "-Infinity",
                                 NUM1000, NUMDOT, "1e-20", None]),
    ("f4", "float4", "float", ["NaN", "Infinity", "-Infinity", "-0", "0", "1.5", "3.4028235e38",
                               "1.4e-45", "0.1", None]),
    ("f8", "float8", "float", ["NaN", "Infinity", "-Infinity", "-0", "1e-300", "5e-324",
                               "1.7976931348623157e308", "0.1", "-123.456", None]),
    ("d", "date", "date", ["2024-02-29", "0044-03-15 BC", "4714-11-24 BC", "5874897-12-31",
                           "infinity", "-infinity", "0001-01-01", None]),
    ("t", "time", "time", ["00:00:00", "23:59:59.999999", "24:00:00", "12:34:56.5", None]),
    ("tz", "timetz", "timetz", ["12:00:00+00", "12:00:00.123456+05:30", "00:00:00-03",
                                "23:59:59-15:59", "12:00:00+14", None]),
    ("ts", "timestamp", "ts", ["2024-02-29 12:34:56.789012", "0044-03-15 12:00:00 BC",
                               "294276-12-31 23:59:59.999999", "4713-01-01 00:00:00.5 BC",
                               "infinity", "-infinity", "2000-01-01 00:00:00", None]),
    ("tstz", "timestamptz", "tstz", ["2024-02-29 12:34:56.789012+00", "2024-06-01 12:00:00+05:30",
                                     "0044-03-15 12:00:00+00 BC", "294276-12-31 23:59:59.999999+00",
                                     "infinity", "-infinity", "1900-01-01 00:00:00.000001+00", None]),
    ("ba", "bytea", "bytea", ["\\x", "\\x00", "\\xdeadbeef", "\\x5c27225c0a", HEX256, None]),
    ("j", "json", "json", ['{"a": 1, "a": 2}', '[1, 2.50, -0, 1e10, true, null, "x\\"y\\\\z\\n\\u00e9\\ud83d\\ude00"]',
                           '"just a string"', '{\n  "nested": {"deep": [[[]]]}, "emoji": "\U0001F600"\n}',
                           "3.14159", "null", None]),
    ("jb", "jsonb", "jsonb", ['{"k": [1, {"x": null}], "s": "q\\"\\\\\\t"}', "[]", "{}",
                              "12345678901234567890.123", '"\\u0001"', None]),
    ("m", "money", "text", ["0", "-1234.56", "92233720368547758.07", "-92233720368547758.08", None]),
    ("c", "char(5)", "text", ["ab", "", " x", "abcde", None]),
    ("vc", "varchar(20)", "text", ["", "x", "NULL", "'\"\\", None]),
    ("tx", "text", "text", TEXTS),
    ("nm", "name", "text", ["pg_class", "with space", None]),
    ("ci", "citext", "text", ["MiXeD Case", "", None]),
    ("iv", "interval", "text", ["1 year 2 mons 3 days 04:05:06.789", "-00:00:01", "0",
                                "178000000 years", "-1 days +01:00:00", None]),
    ("u", "uuid", "text", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000", None]),
    ("ip", "inet", "text", ["192.168.0.1", "10.0.0.0/8", "::1", "2001:db8::ff00:42:8329/64", None]),
    ("cd", "cidr", "text", ["10.0.0.0/8", "2001:db8::/32", None]),
    ("mac", "macaddr", "text", ["08:00:2b:01:02:03", None]),
    ("mac8", "macaddr8", "text", ["08:00:2b:01:02:03:04:05", None]),
    ("bt", "bit(4)", "text", ["1010", "0000", None]),
    ("vb", "varbit", "text", ["", "1", "101010101010101", None]),
    ("x", "xml", "text", ['<a x="1">text &amp; more</a>', "plain text", "<a/><b>two</b>", None]),
    ("tsv", "tsvector", "text", ["'a' 'b':1,2A", "", "'quo''te' 'back\\\\slash'", None]),
    ("tsq", "tsquery", "text", ["'a' & !'b' | 'c':*", None]),
    ("pt", "point", "text", ["(1,2)", "(-0.5,1e300)", "(NaN,Infinity)", None]),
    ("ln", "line", "text", ["{1,-1,0}", None]),
    ("ls", "lseg", "text", ["[(0,0),(1,1)]", None]),
    ("bx", "box", "text", ["(1,1),(0,0)", None]),
    ("pa", "path", "text", ["[(0,0),(1,1),(2,0)]", "((0,0),(1,1))", None]),
    ("pg", "polygon", "text", ["((0,0),(1,1),(1,0))", None]),
    ("cr", "circle", "text", ["<(0,0),1.5>", None]),
    ("lsn", "pg_lsn", "text", ["0/0", "FFFFFFFF/FFFFFFFF", "16/B374D848", None]),
    ("x8", "xid8", "text", ["0", "18446744073709551615", None]),
    ("e", "mood", "text", ["sad", "ok", "happy", 'wei"rd, {one}', None]),
    ("comp", "pair", "text", [X("ROW(1, 'a \"b\" c', ARRAY[1.5, NULL])"), X("ROW(NULL, NULL, NULL)"),
                              X("ROW(-2, E'x\\\\y\\nz', '{}')"), None]),
    ("dom", "posint", "text", ["1", "2147483647", None]),
    ("dtags", "tags", "text", ["{a,b}", "{}", None]),
    ("r4", "int4range", "text", ["[1,10)", "empty", "(,5]", "[3,)", None]),
    ("rts", "tsrange", "text", ['["2024-01-01 00:00:00","2024-12-31 23:59:59.5")', "(,infinity]", None]),
    ("rtz", "tstzrange", "text", ["[2024-01-01 00:00:00+00,2024-01-02 00:00:00+05)", None]),
    ("mr", "int4multirange", "text", ["{}", "{[1,3), [5,7)}", None]),
    ("ur", "floatrange", "text", ["[1.5,2.5)", "empty", None]),
    ("umr", "floatmultirange", "text", ["{[1.5,2.5), [3,4]}", None]),
    ("hs", "hstore", "text", ['"a"=>"1", "b"=>NULL, "c \\"q\\""=>"x,y"', "", None]),
    # arrays: the rule is the element type's
    ("a_b", "bool[]", "bool", ["{t,f,NULL}", "{}", "{{t,f},{NULL,t}}", None]),
    ("a_i2", "int2[]", "int", ["{-32768,32767}", "[0:1]={1,2}", None]),
    ("a_i4", "int4[]", "int", ["{1,NULL,3}", "{}", "{{1,2,3},{4,NULL,6}}", "{{{1}},{{2}}}", None]),
    ("a_i8", "int8[]", "int", ["{-9223372036854775808,9223372036854775807}", None]),
    ("a_o", "oid[]", "oid", ["{0,4294967295}", None]),
    ("a_n", "numeric[]", "numeric", ["{1.50,NaN,Infinity,NULL}", "{{1,2},{3,-0.001}}",
                                     X("ARRAY[repeat('9', 1000)::numeric, NULL]"), None]),
    ("a_f4", "float4[]", "float", ["{NaN,-Infinity,-0,1.5,NULL}", "{0.1}", None]),
    ("a_f8", "float8[]", "float", ["{Infinity,-0,5e-324,1e300}", "{{NaN,1},{2,NULL}}", "{}", None]),
    ("a_d", "date[]", "date", ['{2024-02-29,"0044-03-15 BC",infinity,-infinity,NULL}', None]),
    ("a_t", "time[]", "time", ["{00:00:00,24:00:00,12:34:56.5}", None]),
    ("a_tz", "timetz[]", "timetz", ['{12:00:00+00,00:00:00-03,"12:00:00.5+05:30"}', None]),
    ("a_ts", "timestamp[]", "ts", ['{"2024-02-29 12:34:56.789012","0044-03-15 12:00:00 BC",infinity,NULL}',
                                   '{{"2000-01-01 00:00:00"},{-infinity}}', None]),
    ("a_tstz", "timestamptz[]", "tstz", ['{"2024-02-29 12:34:56+00","0044-03-15 12:00:00+00 BC",infinity,NULL}', None]),
    ("a_by", "bytea[]", "bytea", [X("ARRAY['\\x00ff'::bytea, '\\x', NULL, '\\x5c22']"), None]),
    ("a_j", "json[]", "json", [X("""ARRAY['{"a": [1, 2.5]}'::json, '"str"', NULL, 'null']"""), None]),
    ("a_jb", "jsonb[]", "jsonb", [X("""ARRAY['{"a": {"b": [true, null]}}'::jsonb, '[]', NULL]"""),
                                  X("""ARRAY[ARRAY['1'::jsonb, '"x\\\\y"'], ARRAY['{}', '[]']]"""), None]),
    ("a_tx", "text[]", "text", [X("ARRAY[%s, NULL]" % ", ".join(
        "E'%s'" % s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        for s in ["a", "b c", "NULL", "", '"q"', "back\\slash", "new\nline", "\U0001F600", "{br,ace}"])),
        "{}", X("ARRAY[ARRAY['a', 'b'], ARRAY[NULL, 'd']]"), None]),
    ("a_vc", "varchar[]", "text", ['{x,"y z"}', None]),
    ("a_c", "char(3)[]", "text", ['{a,"ab ",abc}', None]),
    ("a_nm", "name[]", "text", ['{pg_class,"a b"}', None]),
    ("a_u", "uuid[]", "text", ["{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}", None]),
    ("a_ip", "inet[]", "text", ["{192.168.0.1,::1/128,NULL}", None]),
    ("a_cd", "cidr[]", "text", ["{10.0.0.0/8}", None]),
    ("a_mac", "macaddr[]", "text", ["{08:00:2b:01:02:03}", None]),
    ("a_iv", "interval[]", "text", ['{"1 day 02:00:00",-00:00:01,NULL}', None]),
    ("a_m", "money[]", "text", [X("ARRAY['1.5'::money, '-1000', NULL]"), None]),
    ("a_bt", "bit(4)[]", "text", ["{1010,0101}", None]),
    ("a_vb", "varbit[]", "text", ['{"",1}', None]),
    ("a_x", "xml[]", "text", [X("""ARRAY['<a x="1"/>'::xml, 'text']"""), None]),
    ("a_tsv", "tsvector[]", "text", [X("ARRAY['a b'::tsvector, '']"), None]),
    ("a_pt", "point[]", "text", ['{"(1,2)","(-0.5,1e+300)"}', None]),
    ("a_bx", "box[]", "text", [X("ARRAY['(1,1),(0,0)'::box, '(3,3),(2,2)', NULL]"),
                               X("ARRAY[ARRAY['(1,1),(0,0)'::box], ARRAY[NULL::box]]"), None]),
    ("a_pa", "path[]", "text", ['{"[(0,0),(1,1)]"}', None]),
    ("a_cr", "circle[]", "text", ['{"<(0,0),1>"}', None]),
    ("a_lsn", "pg_lsn[]", "text", ["{0/0,16/B374D848}", None]),
    ("a_r4", "int4range[]", "text", ['{"[1,3)",empty,NULL}', None]),
    ("a_mr", "int4multirange[]", "text", ['{"{}","{[1,3), [5,7)}"}', None]),
    ("a_e", "mood[]", "text", ["{sad,ok,NULL}", "{}", X("ARRAY[ARRAY['sad', 'ok'], ARRAY['happy', NULL]]"),
                               X("""ARRAY['wei"rd, {one}']"""), None]),
    ("a_comp", "pair[]", "text", [X("ARRAY[ROW(1, 'x', NULL)::pair, NULL, ROW(NULL, NULL, NULL)]"), None]),
    ("a_dom", "posint[]", "text", ["{1,2,NULL}", None]),
    ("a_ur", "floatrange[]", "text", ['{"[1.5,2.5)",empty}', None]),
    ("a_hs", "hstore[]", "text", [X("""ARRAY['a=>1'::hstore, '"k,"=>"v\\"q"', NULL]"""), None]),
    ("a_ci", "citext[]", "text", ["{A,b,NULL}", None]),
]

# Expected JSON of value {x} by rule, in SQL (settings pinned like pgcdc's).
RULES = {
    "bool": "to_jsonb({x})",
    "int": "to_jsonb({x})",
    "oid": "to_jsonb({x}::bigint)",
    "numeric": "to_jsonb({x}::text)",
    "float": "CASE WHEN {x}::text IN ('NaN', 'Infinity', '-Infinity') THEN to_jsonb({x}::text) "
             "ELSE to_jsonb({x}) END",
    "date": "to_jsonb({x}::text)",
    "time": "to_jsonb({x}::text)",
    "timetz": "to_jsonb(regexp_replace(regexp_replace({x}::text, '([+-]\\d\\d)$', '\\1:00'), "
              "'[+]00:00$', 'Z'))",
    "ts": "to_jsonb({x})",
    "tstz": "to_jsonb(regexp_replace(to_jsonb({x}) #>> '{{}}', '[+]00:00', 'Z'))",
    "bytea": "to_jsonb(translate(encode({x}, 'base64'), E'\\n', ''))",
    "json": "{x}::jsonb",
    "jsonb": "{x}",
    "text": "to_jsonb(txt({x}))",
}


def is_array(typ):
    return typ.endswith("]")
PY

# ---- schema, row generator, oracle trigger
python3 - "$T_DIR" "$N" >"$T_DIR/schema.sql" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from spec import COLS, RULES, is_array


def lit(s):
    esc = "".join("\\\\" if ch == "\\" else "\\'" if ch == "'" else
                  "\\x%02x" % ord(ch) if ord(ch) < 0x20 or ord(ch) == 0x7f else ch for ch in s)
    return "E'%s'" % esc


def sql_value(v, typ):
    if v is None:
        return "NULL::%s" % typ
    if isinstance(v, tuple):
        return "(%s)::%s" % (v[1], typ)
    return "%s::%s" % (lit(v), typ)


def oracle(col, typ, rule):
    r = RULES[rule]
    if not is_array(typ):
        return r.format(x="NEW.%s" % col)
    v = "NEW.%s" % col
    return ("CASE WHEN %s IS NULL THEN NULL ELSE jsonb_build_object("
            "'dims', (SELECT jsonb_agg(array_length(%s, k) ORDER BY k) FROM generate_series(1, array_ndims(%s)) k), "
            "'elems', (SELECT jsonb_agg(%s ORDER BY o) FROM (SELECT unnest(%s) AS x, "
            "generate_series(1, cardinality(%s)) AS o) u)) END" % (v, v, v, r.format(x="u.x"), v, v))


print("""CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'wei"rd, {one}');
CREATE TYPE pair AS (a int, b text, c float8[]);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN tags AS text[];
CREATE TYPE floatrange AS RANGE (subtype = float8);
-- a value in the output function's own text form (a ::text cast is not: inet, char(n), bool)
CREATE FUNCTION txt(anyelement) RETURNS text STRICT LANGUAGE sql AS $$ SELECT format('%s', $1) $$;
CREATE TABLE expected (seq bigserial PRIMARY KEY, id int NOT NULL, j jsonb NOT NULL);""")
print("CREATE TABLE ty (id int PRIMARY KEY, %s);" % ", ".join("%s %s" % (c, t) for c, t, _, _ in COLS))
print("ALTER TABLE ty REPLICA IDENTITY FULL;")
sel = []
for k, (c, t, _, vals) in enumerate(COLS):
    cases = " ".join("WHEN %d THEN %s" % (i, sql_value(v, t)) for i, v in enumerate(vals))
    sel.append("CASE (i + %d) %% %d %s END" % (k, len(vals), cases))
print("CREATE FUNCTION gen(i int) RETURNS SETOF ty LANGUAGE sql SET timezone = 'UTC' "
      "SET datestyle = 'ISO, MDY' SET intervalstyle = 'postgres' AS $f$ SELECT i, %s $f$;" % ",\n  ".join(sel))
pairs = ["'id', to_jsonb(NEW.id)"] + ["'%s', %s" % (c, oracle(c, t, r)) for c, t, r, _ in COLS]
objs = " || ".join("jsonb_build_object(%s)" % ", ".join(pairs[i:i + 40]) for i in range(0, len(pairs), 40))
print("""CREATE FUNCTION expect_row() RETURNS trigger LANGUAGE plpgsql
SET datestyle = 'ISO' SET intervalstyle = 'postgres' SET extra_float_digits = 3 SET timezone = 'UTC'
AS $f$ BEGIN
  INSERT INTO expected (id, j) SELECT NEW.id, %s;
  RETURN NULL;
END $f$;
CREATE TRIGGER expect_row AFTER INSERT OR UPDATE ON ty FOR EACH ROW EXECUTE FUNCTION expect_row();""" % objs)
# The row update: every column but the key from another generated row.
names = ", ".join(c for c, _, _, _ in COLS)
print("CREATE PROCEDURE regen(lo int, step int) LANGUAGE sql AS $f$ UPDATE ty t SET (%s) = "
      "(SELECT %s FROM gen(t.id + 1000) g) WHERE t.id %% step = lo $f$;" % (names, names))
PY
t_sql_file "$T_DIR/schema.sql" >/dev/null
# Hostile defaults for every new session, pgcdc's included.
t_sql "ALTER DATABASE postgres SET datestyle = 'SQL, DMY'; ALTER DATABASE postgres SET intervalstyle = 'sql_standard';
ALTER DATABASE postgres SET timezone = 'America/St_Johns'; ALTER DATABASE postgres SET extra_float_digits = 0;
ALTER DATABASE postgres SET bytea_output = 'escape'"
t_sql "INSERT INTO ty SELECT g.* FROM generate_series(1, $((N / 2))) i, gen(i) g"

T_CFG_EXTRA='snapshot = { mode = "initial"; chunk_rows = 30; };' t_pgcdc_config types public.ty
t_pgcdc_start
t_wait_for 60 '"$(t_bin)/pgcdc" status -c "$T_CFG" 2>/dev/null | grep -qE "^ *table public\.ty +done"'
for ((i = N / 2 + 1; i <= N; i += 10)); do
	t_sql "INSERT INTO ty SELECT g.* FROM generate_series($i, $((i + 9))) i, gen(i) g"
done
t_sql "CALL regen(0, 3)"
t_sql "UPDATE ty SET b = NOT coalesce(b, true), i2 = NULL WHERE id % 7 = 1"	# big text unchanged
t_sql "CALL regen(1, 11)"
t_sql "DELETE FROM ty WHERE id % 10 = 5"
t_sql "INSERT INTO ty SELECT g.* FROM gen(1000) g"	# the last change
t_wait_for 60 'grep -qF "\"after\":{\"id\":1000," "$T_OUT"/public.ty/*.jsonl'
t_pgcdc_stop
t_sql "SELECT jsonb_build_object('seq', seq, 'id', id, 'j', j) FROM expected ORDER BY seq" >"$T_DIR/expected.jsonl"
echo "$(wc -l <"$T_DIR/expected.jsonl") expected row versions, $(cat "$T_OUT"/public.ty/*.jsonl | wc -l) events"

# ---- compare
python3 - "$T_DIR" "$T_OUT" <<'PY' || t_fail "the output differs from the oracle (above)"
import collections, decimal, json, os, sys
sys.path.insert(0, sys.argv[1])
from spec import COLS, is_array

ARRAYS = {c for c, t, _, _ in COLS if is_array(t)}
TYPES = {c: t for c, t, _, _ in COLS}


def no_constant(name):
    raise ValueError("non-JSON constant %s" % name)


def strict(text):
    """RFC 8259 only: no NaN/Infinity, numbers exact, strings valid Unicode."""
    v = json.loads(text, parse_float=decimal.Decimal, parse_int=decimal.Decimal,
                   parse_constant=no_constant)
    walk = [v]
    while walk:
        x = walk.pop()
        if isinstance(x, str):
            x.encode("utf-8")       # a lone surrogate escape fails here
        elif isinstance(x, list):
            walk.extend(x)
        elif isinstance(x, dict):
            walk.extend(x.keys())
            walk.extend(x.values())
    return v


def same(a, b):
    """Equal JSON values, numbers by value, types strictly (true is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def shape(dims, elems):
    dims = [int(d) for d in dims or []]
    if not dims:
        return []
    if len(dims) == 1:
        return elems
    step = len(elems) // dims[0]
    return [shape(dims[1:], elems[i * step:(i + 1) * step]) for i in range(dims[0])]


def expected_row(j):
    return {k: shape(v["dims"], v["elems"]) if k in ARRAYS and v is not None else v for k, v in j.items()}


events, bad = [], 0
for root, _, files in os.walk(sys.argv[2]):
    for f in sorted(files):
        if not f.endswith(".jsonl"):
            continue
        for n, line in enumerate(open(os.path.join(root, f), "rb").read().split(b"\n")[:-1], 1):
            try:
                ev = strict(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                bad += 1
                print("%s:%d: not strict JSON: %s" % (f, n, e))
                continue
            if root.endswith("public.ty"):
                events.append(ev)
if bad:
    sys.exit(1)

versions = collections.defaultdict(list)
for line in open(os.path.join(sys.argv[1], "expected.jsonl"), encoding="utf-8"):
    e = strict(line)
    versions[int(e["id"])].append(expected_row(e["j"]))

diffs = collections.defaultdict(list)   # (column, op, side) -> examples


def compare(got, want, op, side, rid, unchanged=()):
    if got is None or want is None:
        if got is not want:
            diffs[("(row)", op, side)].append((rid, got, want))
        return
    for k in sorted(set(got) | set(want)):
        if k in unchanged and k not in got:
            continue
        if k not in got or k not in want or not same(got[k], want[k]):
            diffs[(k, op, side)].append((rid, got.get(k, "(missing)"), want.get(k, "(missing)")))


seen = collections.defaultdict(int)     # id -> versions delivered
ops = collections.Counter(ev["op"] for ev in events)
order_errors = []
for ev in events:
    op, row = ev["op"], ev["after"] or ev["before"]
    rid = int(row["id"])
    vs, i = versions[rid], seen[rid]
    if op in "rc":
        if i != 0 or (op == "r") != (rid <= 100):
            order_errors.append("id %d: op %s as version %d" % (rid, op, i + 1))
        compare(ev["after"], vs[0], op, "after", rid)
        seen[rid] = 1
    elif op == "u":
        unchanged = set(ev.get("unchanged", []))
        for k in unchanged:
            if not same(vs[i - 1][k], vs[i][k]):
                diffs[(k, "u", "listed unchanged but changed")].append((rid, vs[i - 1][k], vs[i][k]))
        compare(ev["before"], vs[i - 1], op, "before", rid)
        compare(ev["after"], vs[i], op, "after", rid, unchanged)
        seen[rid] = i + 1
    elif op == "d":
        compare(ev["before"], vs[i - 1], op, "before", rid)
        seen[rid] = -1
missing = [rid for rid, vs in versions.items() if seen[rid] not in (len(vs), -1)]
def show(v):
    if isinstance(v, list):
        return "[%s]" % ",".join(show(x) for x in v)
    if isinstance(v, dict):
        return "{%s}" % ",".join("%s:%s" % (show(k), show(x)) for k, x in v.items())
    return str(v) if isinstance(v, decimal.Decimal) else json.dumps(v, ensure_ascii=False)


print("events: %s; columns compared per row: %d" % (dict(ops), len(COLS) + 1))
if order_errors or missing:
    print("order: %s; ids whose last version never arrived: %s" % (order_errors[:5], missing[:10]))
for (col, op, side), ex in sorted(diffs.items()):
    rid, got, want = ex[0]
    print("DIFF %s (%s), op %s %s: %d value(s); e.g. id %d: got %s, expected %s" % (
        col, TYPES.get(col, ""), op, side, len(ex), rid,
        show(got)[:300], show(want)[:300]))
USER_ARRAYS = {"a_e", "a_comp", "a_dom", "a_ur", "a_hs", "a_ci"}
if diffs and all(op == "r" and col in USER_ARRAYS for col, op, _ in diffs):
    print("(only snapshot rows, only arrays of non-built-in types: those need the Type messages "
          "pgoutput sends before a Relation, and the snapshot's Relation comes without them)")
if ops["u"] == 0 or ops["d"] == 0 or ops["r"] != 100 or not any("unchanged" in e for e in events):
    print("the run did not cover what it should (snapshot rows, updates with unchanged TOAST, deletes)")
    sys.exit(1)
sys.exit(1 if diffs or order_errors or missing else 0)
PY
t_pass
