/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The value tree of a TOML document and its memory. All of a document's
 * values, strings, keys and vectors come from one arena, released in one
 * go by toml_free(). Tables keep keys in written order and add a hash index
 * once they reach TOML_INDEX_MIN keys, so lookups stay constant-time.
 */
#include "toml_private.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Enough for everything the arena holds: pointers, size_t, int64_t, double. */
#define ARENA_ALIGN 8

/* Chunks smaller than this are not worth a malloc() of their own. */
#define CHUNK_SIZE (64 * 1024)
/* Requests above this get a chunk of their own, so big strings waste nothing.
 */
#define BIG_ALLOC (CHUNK_SIZE / 4)

struct toml_chunk {
	struct toml_chunk *next;
	size_t size; /* usable bytes in data */
	size_t used;
	max_align_t data[];
};

struct toml_doc *
toml_doc_new(void)
{
	struct toml_doc *doc;

	doc = calloc(1, sizeof(*doc));
	if (doc == NULL)
		return NULL;

	/*
	 * A per-document seed keeps the key hash from being predictable.
	 * Without entropy the fixed seed still works, only less evenly for
	 * keys chosen to collide.
	 */
	if (getrandom(&doc->hash_seed, sizeof(doc->hash_seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(doc->hash_seed))
		doc->hash_seed = 0x9e3779b97f4a7c15ULL;
	return doc;
}

void
toml_free(struct toml_doc *doc)
{
	struct toml_chunk *c, *next;

	if (doc == NULL)
		return;
	for (c = doc->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
}

/*
 * Returns size bytes aligned to ARENA_ALIGN, owned by doc, or NULL when
 * out of memory or when size overflows.
 */
void *
toml_arena_alloc(struct toml_doc *doc, size_t size)
{
	const size_t align = ARENA_ALIGN;
	struct toml_chunk *c = doc->chunks;
	size_t chunk_size, total;
	void *p;

	if (size == 0)
		size = 1;
	if (__builtin_add_overflow(size, align - 1, &size))
		return NULL;
	size &= ~(align - 1);

	if (c != NULL && size <= c->size - c->used) {
		p = (char *)c->data + c->used;
		c->used += size;
		return p;
	}

	chunk_size = size > BIG_ALLOC ? size : CHUNK_SIZE;
	if (__builtin_add_overflow(chunk_size, sizeof(*c), &total))
		return NULL;
	c = malloc(total);
	if (c == NULL)
		return NULL;
	c->size = chunk_size;
	c->used = size;

	/* A big block goes behind the current chunk, which keeps its room. */
	if (size > BIG_ALLOC && doc->chunks != NULL) {
		c->next = doc->chunks->next;
		doc->chunks->next = c;
	} else {
		c->next = doc->chunks;
		doc->chunks = c;
	}
	return c->data;
}

/*
 * Grows the block at p from old_size to new_size bytes when it is the last
 * one in the current chunk and the chunk has room. Returns 1 when it did.
 */
static int
arena_extend(struct toml_doc *doc, void *p, size_t old_size, size_t new_size)
{
	struct toml_chunk *c = doc->chunks;
	size_t extra;

	old_size = (old_size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (c == NULL || (char *)p + old_size != (char *)c->data + c->used)
		return 0;
	if (__builtin_add_overflow(new_size, ARENA_ALIGN - 1, &new_size))
		return 0;
	new_size &= ~(size_t)(ARENA_ALIGN - 1);
	extra = new_size - old_size;
	if (extra > c->size - c->used)
		return 0;
	c->used += extra;
	return 1;
}

/* Copies len bytes of s into the arena and adds a NUL; NULL when out of memory.
 */
char *
toml_arena_strdup(struct toml_doc *doc, const char *s, size_t len)
{
	size_t size;
	char *p;

	if (__builtin_add_overflow(len, 1, &size))
		return NULL;
	p = toml_arena_alloc(doc, size);
	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Returns a zeroed value of type at pos, or NULL when out of memory. */
struct toml_value *
toml_value_new(struct toml_doc *doc, enum toml_type type, struct toml_pos pos)
{
	struct toml_value *v;

	v = toml_arena_alloc(doc, sizeof(*v));
	if (v == NULL)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->pos = pos;
	if (type == TOML_TABLE)
		v->u.tab.hash_seed = doc->hash_seed;
	return v;
}

/*
 * Hashes a key: FNV-1a over the bytes, started from a per-document seed,
 * then a 64-bit finalizer so that the low bits used for slots are mixed.
 * NOTE: this is not a keyed cryptographic hash; keys crafted against a
 * known seed could still collide and make one table's lookups linear.
 */
uint64_t
toml_key_hash(uint64_t seed, const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int
entry_matches(
    const struct toml_entry *e, const char *key, size_t len, uint64_t hash)
{
	/* An empty key may come as a NULL pointer, which memcmp() rejects. */
	return e->hash == hash && e->key_len == len &&
	       (len == 0 || memcmp(e->key, key, len) == 0);
}

/* Returns the entry of key in table, or NULL when there is none. */
struct toml_entry *
toml_table_find(
    const struct toml_value *table, const char *key, size_t len, uint64_t hash)
{
	const size_t n = table->u.tab.len;
	struct toml_entry *entries = table->u.tab.entries;

	if (table->u.tab.nslots == 0) {
		for (size_t i = 0; i < n; i++)
			if (entry_matches(&entries[i], key, len, hash))
				return &entries[i];
		return NULL;
	}

	const size_t mask = table->u.tab.nslots - 1;
	for (size_t s = hash & mask;; s = (s + 1) & mask) {
		uint32_t slot = table->u.tab.slots[s];

		if (slot == 0)
			return NULL;
		if (entry_matches(&entries[slot - 1], key, len, hash))
			return &entries[slot - 1];
	}
}

static void
index_insert(struct toml_value *table, size_t i)
{
	const size_t mask = table->u.tab.nslots - 1;
	size_t s = table->u.tab.entries[i].hash & mask;

	while (table->u.tab.slots[s] != 0)
		s = (s + 1) & mask;
	table->u.tab.slots[s] = (uint32_t)(i + 1);
}

/* Rebuilds the index with nslots slots (a power of two above the key count). */
static int
index_rebuild(struct toml_doc *doc, struct toml_value *table, size_t nslots)
{
	size_t bytes;
	uint32_t *slots;

	if (__builtin_mul_overflow(nslots, sizeof(*slots), &bytes))
		return -1;
	slots = toml_arena_alloc(doc, bytes);
	if (slots == NULL)
		return -1;
	memset(slots, 0, bytes);
	table->u.tab.slots = slots;
	table->u.tab.nslots = nslots;
	for (size_t i = 0; i < table->u.tab.len; i++)
		index_insert(table, i);
	return 0;
}

/*
 * Grows a vector in the arena to hold at least one more element: doubles
 * *cap, in place when the vector is the newest block of the arena, else by
 * copying. Returns the vector, or NULL on overflow or out of memory. A
 * copied-from block stays in the arena, which costs at most as much memory
 * again as the final vector.
 */
static void *
vector_grow(
    struct toml_doc *doc, void *old, size_t len, size_t *cap, size_t elem_size)
{
	size_t new_cap, bytes;
	void *p;

	if (len < *cap)
		return old;
	new_cap = *cap == 0 ? 4 : *cap;
	if (__builtin_mul_overflow(new_cap, 2, &new_cap) ||
	    __builtin_mul_overflow(new_cap, elem_size, &bytes))
		return NULL;

	/* The last block of the current chunk can grow where it is. */
	if (old != NULL && arena_extend(doc, old, *cap * elem_size, bytes)) {
		*cap = new_cap;
		return old;
	}

	p = toml_arena_alloc(doc, bytes);
	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, old, len * elem_size);
	*cap = new_cap;
	return p;
}

/*
 * Appends key to table with a NULL value, copying the key into the arena.
 * The caller has checked that the key is not there yet. Returns the new
 * entry, valid until the next addition to table, or NULL when out of memory.
 */
struct toml_entry *
toml_table_add(struct toml_doc *doc, struct toml_value *table, const char *key,
    size_t len, uint64_t hash, struct toml_pos pos)
{
	struct toml_entry *entries, *e;
	size_t n = table->u.tab.len;
	char *copy;

	/* Slot values are entry index + 1 in a uint32_t. */
	if (n >= UINT32_MAX - 1)
		return NULL;
	entries = vector_grow(
	    doc, table->u.tab.entries, n, &table->u.tab.cap, sizeof(*entries));
	if (entries == NULL)
		return NULL;
	table->u.tab.entries = entries;
	copy = toml_arena_strdup(doc, key, len);
	if (copy == NULL)
		return NULL;

	e = &entries[n];
	e->key = copy;
	e->key_len = len;
	e->hash = hash;
	e->pos = pos;
	e->value = NULL;
	table->u.tab.len = n + 1;

	/* Keep the index at most half full. */
	if (table->u.tab.len >= TOML_INDEX_MIN) {
		size_t nslots = table->u.tab.nslots;

		if (nslots == 0 || table->u.tab.len * 2 > nslots) {
			if (nslots == 0)
				nslots = 4 * TOML_INDEX_MIN;
			while (table->u.tab.len * 2 > nslots)
				nslots *= 2;
			if (index_rebuild(doc, table, nslots) == -1)
				return NULL;
		} else {
			index_insert(table, n);
		}
	}
	return e;
}

/* Appends item to array; -1 when out of memory. */
int
toml_array_push(
    struct toml_doc *doc, struct toml_value *array, struct toml_value *item)
{
	struct toml_value **items;
	size_t n = array->u.arr.len;

	items = vector_grow(
	    doc, array->u.arr.items, n, &array->u.arr.cap, sizeof(*items));
	if (items == NULL)
		return -1;
	array->u.arr.items = items;
	items[n] = item;
	array->u.arr.len = n + 1;
	return 0;
}

const struct toml_value *
toml_root(const struct toml_doc *doc)
{
	return doc->root;
}

enum toml_type
toml_type(const struct toml_value *v)
{
	return v->type;
}

const char *
toml_type_name(enum toml_type type)
{
	switch (type) {
	case TOML_STRING:
		return "string";
	case TOML_INTEGER:
		return "integer";
	case TOML_FLOAT:
		return "float";
	case TOML_BOOL:
		return "boolean";
	case TOML_DATETIME:
		return "offset date-time";
	case TOML_DATETIME_LOCAL:
		return "local date-time";
	case TOML_DATE_LOCAL:
		return "local date";
	case TOML_TIME_LOCAL:
		return "local time";
	case TOML_ARRAY:
		return "array";
	case TOML_TABLE:
		return "table";
	}
	return "unknown type";
}

struct toml_pos
toml_value_pos(const struct toml_value *v)
{
	return v->pos;
}

size_t
toml_table_len(const struct toml_value *table)
{
	if (table == NULL || table->type != TOML_TABLE)
		return 0;
	return table->u.tab.len;
}

static const struct toml_entry *
table_entry(const struct toml_value *table, size_t i)
{
	if (table == NULL || table->type != TOML_TABLE || i >= table->u.tab.len)
		return NULL;
	return &table->u.tab.entries[i];
}

const char *
toml_table_key(const struct toml_value *table, size_t i, size_t *len)
{
	const struct toml_entry *e = table_entry(table, i);

	if (e == NULL)
		return NULL;
	if (len != NULL)
		*len = e->key_len;
	return e->key;
}

struct toml_pos
toml_table_key_pos(const struct toml_value *table, size_t i)
{
	const struct toml_entry *e = table_entry(table, i);
	struct toml_pos none = {0, 0};

	return e == NULL ? none : e->pos;
}

const struct toml_value *
toml_table_value(const struct toml_value *table, size_t i)
{
	const struct toml_entry *e = table_entry(table, i);

	return e == NULL ? NULL : e->value;
}

/*
 * Returns the value under key of byte length len, or NULL when table is
 * not a table or has no such key. Unlike toml_table_get(), the key may
 * contain NUL bytes.
 */
const struct toml_value *
toml_table_getn(const struct toml_value *table, const char *key, size_t len)
{
	const struct toml_entry *e;

	if (table == NULL || table->type != TOML_TABLE || key == NULL)
		return NULL;
	e = toml_table_find(
	    table, key, len, toml_key_hash(table->u.tab.hash_seed, key, len));
	return e == NULL ? NULL : e->value;
}

const struct toml_value *
toml_table_get(const struct toml_value *table, const char *key)
{
	if (key == NULL)
		return NULL;
	return toml_table_getn(table, key, strlen(key));
}

size_t
toml_array_len(const struct toml_value *array)
{
	if (array == NULL || array->type != TOML_ARRAY)
		return 0;
	return array->u.arr.len;
}

const struct toml_value *
toml_array_get(const struct toml_value *array, size_t i)
{
	if (array == NULL || array->type != TOML_ARRAY || i >= array->u.arr.len)
		return NULL;
	return array->u.arr.items[i];
}

int
toml_get_string(const struct toml_value *v, const char **s, size_t *len)
{
	if (v == NULL || v->type != TOML_STRING)
		return -1;
	*s = v->u.str.ptr;
	if (len != NULL)
		*len = v->u.str.len;
	return 0;
}

int
toml_get_int(const struct toml_value *v, int64_t *out)
{
	if (v == NULL || v->type != TOML_INTEGER)
		return -1;
	*out = v->u.integer;
	return 0;
}

int
toml_get_float(const struct toml_value *v, double *out)
{
	if (v == NULL || v->type != TOML_FLOAT)
		return -1;
	*out = v->u.fp;
	return 0;
}

int
toml_get_bool(const struct toml_value *v, bool *out)
{
	if (v == NULL || v->type != TOML_BOOL)
		return -1;
	*out = v->u.boolean;
	return 0;
}

int
toml_get_datetime(const struct toml_value *v, struct toml_datetime *out)
{
	if (v == NULL)
		return -1;
	switch (v->type) {
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		*out = v->u.dt;
		return 0;
	default:
		return -1;
	}
}
