/* ussd session: the plain per-caller state the engine updates each hop, its
 * vars, and its compact JSON text for the store. Decoding trusts nothing:
 * the text comes back from a database row. */
#include "ussd/ussd.h"

#include "util/str.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a picked list item goes whole into a var (list screens' var and <var>_name) */
_Static_assert(USSD_ITEM_ID_MAX < sizeof ((struct ussd_session *)0)->val[0] &&
                   USSD_ITEM_LABEL_MAX < sizeof ((struct ussd_session *)0)->val[0],
               "a list item fits a session var");

void ussd_session_init(struct ussd_session *s, const char *lang)
{
    memset(s, 0, sizeof *s);
    str_copy(s->lang, sizeof s->lang, lang && !strcmp(lang, "sw") ? "sw" : "en");
}

const char *ussd_var(const struct ussd_session *s, const char *key)
{
    for (int i = 0; i < s->nvars && i < USSD_MAX_VARS; i++)
        if (!strcmp(s->key[i], key))
            return s->val[i];
    return NULL;
}

bool ussd_var_set(struct ussd_session *s, const char *key, const char *val)
{
    if (!key || !*key || strlen(key) >= sizeof s->key[0])
        return false;
    if (!val)
        val = "";
    if (strlen(val) >= sizeof s->val[0])
        return false;
    int i = 0;
    while (i < s->nvars && strcmp(s->key[i], key))
        i++;
    if (i == s->nvars) {
        if (s->nvars >= USSD_MAX_VARS)
            return false;
        s->nvars++;
        str_copy(s->key[i], sizeof s->key[i], key);
    }
    str_copy(s->val[i], sizeof s->val[i], val);
    return true;
}

static bool id_ok(const char *id, bool may_be_empty)
{
    size_t n = strlen(id);
    if (n >= sizeof((struct ussd_session *)0)->screen || (!n && !may_be_empty))
        return false;
    for (; *id; id++)
        if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9') ||
              *id == '_' || *id == '-'))
            return false;
    return true;
}

/* A bounded writer into the caller's buffer: encoding runs on every hop,
 * so it writes the JSON itself (what jansson's compact, order-preserving
 * dump would write) without a single allocation; decode uses jansson. */
struct out {
    char *p;
    size_t n, len;
    bool ok;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (!o->ok || o->len + n >= o->n) {
        o->ok = false;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_s(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void put_str(struct out *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20) {
            const char *named = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n"
                              : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (named) {
                put_s(o, named);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                put_s(o, esc);
            }
        } else {
            put(o, (const char *)s, 1);
        }
    }
    put(o, "\"", 1);
}

bool ussd_session_encode(const struct ussd_session *s, char *out, size_t outsz)
{
    struct out o = {.p = out, .n = outsz, .ok = outsz > 0};
    char num[16];
    put_s(&o, "{\"s\":");
    put_str(&o, s->screen);
    put_s(&o, ",\"l\":");
    put_str(&o, s->lang);
    snprintf(num, sizeof num, ",\"p\":%d", s->page);
    put_s(&o, num);
    put_s(&o, ",\"t\":[");
    for (int i = 0; i < s->ntrail && i < USSD_MAX_TRAIL; i++) {
        if (i)
            put(&o, ",", 1);
        put_str(&o, s->trail[i]);
    }
    put_s(&o, "],\"v\":{");
    for (int i = 0; i < s->nvars && i < USSD_MAX_VARS; i++) {
        if (i)
            put(&o, ",", 1);
        put_str(&o, s->key[i]);
        put(&o, ":", 1);
        put_str(&o, s->val[i]);
    }
    put_s(&o, s->offer ? "},\"o\":1}" : "}}");
    if (!o.ok) {
        if (outsz)
            out[0] = 0;
        return false;
    }
    out[o.len] = 0;
    return true;
}

bool ussd_session_decode(struct ussd_session *s, const char *in)
{
    struct ussd_session t;
    bool ok = false;
    json_t *root = NULL;
    ussd_session_init(&t, "en");
    if (!in || strlen(in) > USSD_SESSION_TEXT_MAX)
        goto out;
    json_error_t e;
    root = json_loads(in, JSON_REJECT_DUPLICATES, &e);
    /* "o": the resume offer shows, written only then */
    json_t *offer = json_object_get(root, "o");
    if (!json_is_object(root) || json_object_size(root) != (offer ? 6u : 5u))
        goto out;
    if (offer && (!json_is_integer(offer) || json_integer_value(offer) != 1))
        goto out;
    t.offer = offer != NULL;
    json_t *scr = json_object_get(root, "s"), *lang = json_object_get(root, "l"),
           *page = json_object_get(root, "p"), *trail = json_object_get(root, "t"),
           *vars = json_object_get(root, "v");
    if (!json_is_string(scr) || !json_is_string(lang) || !json_is_integer(page) || !json_is_array(trail) ||
        !json_is_object(vars))
        goto out;
    if (!id_ok(json_string_value(scr), true))
        goto out;
    str_copy(t.screen, sizeof t.screen, json_string_value(scr));
    if (strcmp(json_string_value(lang), "en") && strcmp(json_string_value(lang), "sw"))
        goto out;
    str_copy(t.lang, sizeof t.lang, json_string_value(lang));
    if (json_integer_value(page) < 0 || json_integer_value(page) > 1000)
        goto out;
    t.page = (int)json_integer_value(page);
    if (json_array_size(trail) > USSD_MAX_TRAIL)
        goto out;
    size_t i;
    json_t *v;
    json_array_foreach(trail, i, v)
    {
        if (!json_is_string(v) || !id_ok(json_string_value(v), false))
            goto out;
        str_copy(t.trail[t.ntrail++], sizeof t.trail[0], json_string_value(v));
    }
    if (json_object_size(vars) > USSD_MAX_VARS)
        goto out;
    const char *k;
    json_object_foreach(vars, k, v)
    {
        if (!json_is_string(v) || !ussd_var_set(&t, k, json_string_value(v)))
            goto out;
        if (strlen(json_string_value(v)) != json_string_length(v))
            goto out; /* an embedded NUL */
    }
    *s = t;
    ok = true;
out:
    if (!ok)
        ussd_session_init(s, "en");
    json_decref(root);
    return ok;
}
