/* util/yaml: libyaml wrapper, the only file that includes <yaml.h>; see
 * yaml.h. The whole document is parsed at load, then only read. */
#include "util/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct yaml_doc {
    yaml_document_t doc;
};

static void fail(struct ydoc_error *err, enum ydoc_fail kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct ydoc_error *err, enum ydoc_fail kind, const char *fmt, ...)
{
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

struct yaml_doc *ydoc_load(const char *path, long max_bytes, struct ydoc_error *err)
{
    struct yaml_doc *d = NULL;
    yaml_parser_t parser;
    bool have_parser = false, ok = false;
    struct stat st;
    *err = (struct ydoc_error){0};
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fail(err, YDOC_OPEN, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) || st.st_size > max_bytes) {
        fail(err, YDOC_TOO_BIG, "file too large (over %ld bytes)", max_bytes);
        goto out;
    }
    if (!(d = malloc(sizeof *d)) || !yaml_parser_initialize(&parser)) {
        fail(err, YDOC_NOMEM, "out of memory");
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &d->doc)) { /* libyaml frees the partial document */
        err->line = (int)parser.problem_mark.line + 1;
        if (parser.context)
            err->context_line = (int)parser.context_mark.line + 1;
        fail(err, YDOC_SYNTAX, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "unknown problem",
             parser.context ? " " : "", parser.context ? parser.context : "");
        goto out;
    }
    ok = true;
out:
    if (have_parser)
        yaml_parser_delete(&parser);
    fclose(fp);
    if (!ok) {
        free(d);
        d = NULL;
    }
    return d;
}

void ydoc_free(struct yaml_doc *d)
{
    if (!d)
        return;
    yaml_document_delete(&d->doc);
    free(d);
}

/* The node named by id, or NULL (id 0 or out of range). */
static yaml_node_t *get(const struct yaml_doc *d, int id)
{
    return d ? yaml_document_get_node((yaml_document_t *)&d->doc, id) : NULL;
}

int ydoc_root(const struct yaml_doc *d)
{
    if (!d)
        return 0;
    const yaml_node_t *r = yaml_document_get_root_node((yaml_document_t *)&d->doc);
    return r ? (int)(r - d->doc.nodes.start) + 1 : 0;
}

enum ynode_kind ynode_kind(const struct yaml_doc *d, int node)
{
    const yaml_node_t *n = get(d, node);
    if (!n)
        return YN_NONE;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return YN_SCALAR;
    case YAML_MAPPING_NODE:
        return YN_MAP;
    case YAML_SEQUENCE_NODE:
        return YN_SEQ;
    default:
        return YN_NONE;
    }
}

int ynode_line(const struct yaml_doc *d, int node)
{
    const yaml_node_t *n = get(d, node);
    return n ? (int)n->start_mark.line + 1 : 0;
}

const char *ynode_str(const struct yaml_doc *d, int node)
{
    const yaml_node_t *n = get(d, node);
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

size_t ynode_strlen(const struct yaml_doc *d, int node)
{
    const yaml_node_t *n = get(d, node);
    return n && n->type == YAML_SCALAR_NODE ? n->data.scalar.length : 0;
}

size_t ynode_count(const struct yaml_doc *d, int node)
{
    const yaml_node_t *n = get(d, node);
    if (n && n->type == YAML_MAPPING_NODE)
        return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (n && n->type == YAML_SEQUENCE_NODE)
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return 0;
}

/* A child id checked to name a node, else 0. */
static int child(const struct yaml_doc *d, int id)
{
    return get(d, id) ? id : 0;
}

int ynode_key(const struct yaml_doc *d, int node, size_t i)
{
    const yaml_node_t *n = get(d, node);
    if (!n || n->type != YAML_MAPPING_NODE || i >= ynode_count(d, node))
        return 0;
    return child(d, n->data.mapping.pairs.start[i].key);
}

int ynode_value(const struct yaml_doc *d, int node, size_t i)
{
    const yaml_node_t *n = get(d, node);
    if (!n || n->type != YAML_MAPPING_NODE || i >= ynode_count(d, node))
        return 0;
    return child(d, n->data.mapping.pairs.start[i].value);
}

int ynode_item(const struct yaml_doc *d, int node, size_t i)
{
    const yaml_node_t *n = get(d, node);
    if (!n || n->type != YAML_SEQUENCE_NODE || i >= ynode_count(d, node))
        return 0;
    return child(d, n->data.sequence.items.start[i]);
}
