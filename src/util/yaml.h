/* util/yaml: the one module that touches libyaml. A YAML file (its first
 * document) is loaded into a read-only tree of nodes named by int ids, 0
 * meaning "no node", so callers never see libyaml types. A document is owned
 * by whoever loaded it and freed with ydoc_free; nodes and strings it lends
 * live as long as the document. Documents are independent: different threads
 * may use different documents; one document is not to be shared while freed. */
#ifndef LIPA_YAML_H
#define LIPA_YAML_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct yaml_doc;

enum ydoc_fail {
    YDOC_OK = 0,
    YDOC_NOMEM,   /* out of memory: msg is "out of memory" */
    YDOC_OPEN,    /* msg is "cannot open: <strerror>" */
    YDOC_TOO_BIG, /* msg is "file too large (over N bytes)" */
    YDOC_SYNTAX,  /* msg is "YAML syntax error: <problem>[ <context>]" */
};

struct ydoc_error {
    enum ydoc_fail kind;
    int line;         /* 1-based line of a syntax error; 0 for the other kinds */
    int context_line; /* 1-based line where the construct of a syntax error
                         started; 0 when the parser named no context */
    char msg[256];
};

/* Loads the first document of the file at path, refusing files over
 * max_bytes (or that cannot be stat'ed). An empty file gives a document
 * without root. On failure returns NULL and fills *err. */
struct yaml_doc *ydoc_load(const char *path, long max_bytes, struct ydoc_error *err);
void ydoc_free(struct yaml_doc *d); /* takes NULL */

enum ynode_kind { YN_NONE, YN_SCALAR, YN_MAP, YN_SEQ };

int ydoc_root(const struct yaml_doc *d); /* 0 when the document is empty */
/* Each of these takes any id, 0 included: a missing node is YN_NONE, line 0,
 * string NULL, count 0, and has no keys, values or items (0). */
enum ynode_kind ynode_kind(const struct yaml_doc *d, int node);
int ynode_line(const struct yaml_doc *d, int node); /* 1-based */
/* A scalar's text, NUL-terminated (it may also hold NULs: compare
 * ynode_strlen with strlen); NULL if node is not a scalar. */
const char *ynode_str(const struct yaml_doc *d, int node);
size_t ynode_strlen(const struct yaml_doc *d, int node);
size_t ynode_count(const struct yaml_doc *d, int node); /* pairs of a map, items of a seq */
int ynode_key(const struct yaml_doc *d, int node, size_t i); /* key of a map's i-th pair */
int ynode_value(const struct yaml_doc *d, int node, size_t i);
int ynode_item(const struct yaml_doc *d, int node, size_t i); /* a seq's i-th item */

/* ---- checked reading ----
 * The one way lipa's own YAML files (menus, texting commands) are read:
 * every problem is reported as "file:line: what is wrong" into errors (may
 * be NULL: problems are only counted), and the caller goes on to find the
 * next one, so an author sees them all at once. */
struct yread {
    const struct yaml_doc *doc;
    const char *file;          /* as shown in messages */
    struct buf *errors;
    int nerr;                  /* problems reported */
    bool oom;                  /* the caller ran out of memory: give up */
};

/* One problem at line of r's file (line 0: the file itself), or of another
 * file (a problem found after reading several). */
void yread_report(struct yread *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void yread_report_at(struct yread *r, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int yread_line(const struct yread *r, int node) { return ynode_line(r->doc, node); }
static inline bool yread_is_scalar(const struct yread *r, int node) { return ynode_kind(r->doc, node) == YN_SCALAR; }
static inline bool yread_is_map(const struct yread *r, int node) { return ynode_kind(r->doc, node) == YN_MAP; }
static inline const char *yread_str(const struct yread *r, int node) { return ynode_str(r->doc, node); }

/* A scalar's text (lent by the document), or NULL after reporting that
 * what "must be a plain value" or "holds a NUL character". */
const char *yread_scalar(struct yread *r, int node, const char *what);

/* A key a mapping may have. */
struct yread_key {
    const char *name;
    bool required;
};
/* Checks a mapping's keys against keys (nkeys of them): a key that is not
 * a plain value, unknown, or repeated is reported, and so is a required
 * one missing (at line). val[i] / kline[i] get the value node and the key's
 * line of keys[i] (0 when absent; val and kline may be NULL); at most 64
 * keys. false (after
 * reporting) when map is not a mapping. */
bool yread_fields(struct yread *r, int map, int line, const char *what, const struct yread_key *keys, int nkeys,
                  int *val, int *kline);
/* The value of key in map (0 when absent); *kline (may be NULL) gets the
 * key's line, or the map's. */
int yread_get(const struct yread *r, int map, const char *key, int *kline);

#endif
