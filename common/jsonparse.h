/*
 * jsonparse: a strict RFC 8259 JSON parser for reading pgcdc's own output
 * back (pgcdc watch).  One document at a time into a flat array of values in
 * document order; the doc is reused across documents, so a reader does not
 * allocate per line once it has seen its longest one.  Every read is bounds-
 * checked: bad input (bad grammar, invalid UTF-8, lone surrogates, nesting
 * past JP_MAX_DEPTH, input of 4 GiB or more) is -1 with the offset, never a crash.
 *
 * Values: an array's elements follow it; an object's members follow it as
 * key (a string), value, key, value...  v->end is the index just past v and
 * everything inside it, so siblings are reached without walking children.
 * Pointers into a doc stay valid until the next jp_parse or jp_free.
 */
#ifndef PGCDC_JSONPARSE_H
#define PGCDC_JSONPARSE_H

#include <stddef.h>
#include <stdint.h>

#define JP_MAX_DEPTH	256

enum jp_type { JP_NULL, JP_FALSE, JP_TRUE, JP_NUMBER, JP_STRING, JP_ARRAY, JP_OBJECT };

struct jp_val {
	enum jp_type	 type;
	uint32_t	 n;	/* array: elements; object: members */
	uint32_t	 end;	/* index past this value's subtree */
	uint32_t	 off;	/* the value's JSON text in the input */
	uint32_t	 len;
	uint32_t	 str;	/* string: decoded UTF-8 at doc->str + str, NUL-terminated */
	uint32_t	 slen;	/* string: decoded length (may hold \u0000) */
};

struct jp_doc {
	struct jp_val	*v;
	uint32_t	 nv, capv;
	char		*str;
	size_t		 nstr, capstr;
	const char	*src;	/* the input of the last jp_parse */
	size_t		 srclen;
	const char	*err;	/* what was wrong, or NULL */
	size_t		 err_off;	/* where, in bytes from the start */
};

/* Parse len bytes (no NUL needed): 0, or -1 with d->err and d->err_off. */
int jp_parse(struct jp_doc *d, const char *text, size_t len);
void jp_free(struct jp_doc *d);

/* The document's top value (after a successful jp_parse). */
const struct jp_val *jp_root(const struct jp_doc *d);
/* The value of member key in object o; NULL if o is no object or lacks it.
 * The last of duplicate keys wins, as in most JSON readers. */
const struct jp_val *jp_get(const struct jp_doc *d, const struct jp_val *o, const char *key);
/* First child of an array (an element) or object (a key), NULL if empty. */
const struct jp_val *jp_first(const struct jp_doc *d, const struct jp_val *parent);
/* The sibling after v inside parent, NULL after the last.  In an object
 * the sibling of a key is its value, and of a value the next key. */
const struct jp_val *jp_next(const struct jp_doc *d, const struct jp_val *parent,
    const struct jp_val *v);
/* A string's decoded bytes; for any other value its JSON text (not
 * NUL-terminated).  *len gets the length. */
const char *jp_text(const struct jp_doc *d, const struct jp_val *v, size_t *len);
/* Whether string v equals the NUL-terminated s. */
int jp_streq(const struct jp_doc *d, const struct jp_val *v, const char *s);

#endif
