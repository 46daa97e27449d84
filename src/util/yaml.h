/* util/yaml: the one module that touches libyaml. A YAML file (its first
 * document) is loaded into a read-only tree of nodes named by int ids, 0
 * meaning "no node", so callers never see libyaml types. A document is owned
 * by whoever loaded it and freed with ydoc_free; nodes and strings it lends
 * live as long as the document. Documents are independent: different threads
 * may use different documents; one document is not to be shared while freed. */
#ifndef LIPA_YAML_H
#define LIPA_YAML_H

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

#endif
