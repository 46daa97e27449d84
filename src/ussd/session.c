/* ussd session: the plain per-caller state the engine updates each hop, its
 * vars, and its compact JSON text for the store. Decoding trusts nothing:
 * the text comes back from a database row. */
#include "ussd/ussd.h"

#include "util/str.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

bool ussd_session_encode(const struct ussd_session *s, char *out, size_t outsz)
{
    bool ok = false;
    char *text = NULL;
    json_t *trail = json_array(), *vars = json_object(), *root = NULL;
    if (!trail || !vars)
        goto out;
    for (int i = 0; i < s->ntrail && i < USSD_MAX_TRAIL; i++)
        if (json_array_append_new(trail, json_string(s->trail[i])))
            goto out;
    for (int i = 0; i < s->nvars && i < USSD_MAX_VARS; i++)
        if (json_object_set_new(vars, s->key[i], json_string(s->val[i])))
            goto out;
    root = json_pack("{s:s, s:s, s:i, s:O, s:O}", "s", s->screen, "l", s->lang, "p", s->page, "t", trail,
                     "v", vars);
    if (!root || !(text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        goto out;
    ok = str_copy(out, outsz, text);
out:
    if (!ok && outsz)
        out[0] = 0;
    free(text);
    json_decref(root);
    json_decref(trail);
    json_decref(vars);
    return ok;
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
    if (!json_is_object(root) || json_object_size(root) != 5)
        goto out;
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
