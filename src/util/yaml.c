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

/* ---- checked reading ---- */

static void vreport(struct yread *r, const char *file, int line, const char *fmt, va_list ap)
{
    r->nerr++;
    if (!r->errors)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line > 0)
        buf_printf(r->errors, "%s:%d: %s\n", file, line, msg);
    else
        buf_printf(r->errors, "%s: %s\n", file, msg);
}

void yread_report(struct yread *r, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(r, r->file, line, fmt, ap);
    va_end(ap);
}

void yread_report_at(struct yread *r, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(r, file, line, fmt, ap);
    va_end(ap);
}

const char *yread_scalar(struct yread *r, int node, const char *what)
{
    if (!yread_is_scalar(r, node)) {
        yread_report(r, yread_line(r, node), "%s must be a plain value", what);
        return NULL;
    }
    if (strlen(yread_str(r, node)) != ynode_strlen(r->doc, node)) {
        yread_report(r, yread_line(r, node), "%s holds a NUL character", what);
        return NULL;
    }
    return yread_str(r, node);
}

bool yread_fields(struct yread *r, int map, int line, const char *what, const struct yread_key *keys, int nkeys,
                  int *val, int *kline)
{
    int seen[64] = {0};
    for (int i = 0; i < nkeys; i++) {
        if (val)
            val[i] = 0;
        if (kline)
            kline[i] = 0;
    }
    if (!yread_is_map(r, map)) {
        yread_report(r, map ? yread_line(r, map) : line, "%s must be a mapping", what);
        return false;
    }
    for (size_t p = 0; p < ynode_count(r->doc, map); p++) {
        int k = ynode_key(r->doc, map, p);
        if (!yread_is_scalar(r, k)) {
            yread_report(r, yread_line(r, k), "%s: keys must be plain values", what);
            continue;
        }
        int i = 0;
        while (i < nkeys && strcmp(keys[i].name, yread_str(r, k)))
            i++;
        if (i == nkeys) {
            yread_report(r, yread_line(r, k), "unknown key '%s' in %s", yread_str(r, k), what);
        } else if (i < 64 && seen[i]) {
            yread_report(r, yread_line(r, k), "duplicate key '%s' in %s (first at line %d)", yread_str(r, k), what,
                         seen[i]);
        } else {
            if (i < 64)
                seen[i] = yread_line(r, k);
            if (val)
                val[i] = ynode_value(r->doc, map, p);
            if (kline)
                kline[i] = yread_line(r, k);
        }
    }
    for (int i = 0; i < nkeys && i < 64; i++)
        if (keys[i].required && !seen[i])
            yread_report(r, line, "%s needs '%s'", what, keys[i].name);
    return true;
}

int yread_get(const struct yread *r, int map, const char *key, int *kline)
{
    for (size_t p = 0; p < ynode_count(r->doc, map); p++) {
        int k = ynode_key(r->doc, map, p);
        if (yread_is_scalar(r, k) && !strcmp(yread_str(r, k), key)) {
            if (kline)
                *kline = yread_line(r, k);
            return ynode_value(r->doc, map, p);
        }
    }
    if (kline)
        *kline = yread_line(r, map);
    return 0;
}
