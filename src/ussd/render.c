/* ussd render: how screens are measured and composed, shared by the checker
 * (which composes every screen with placeholders at full width) and the
 * engine (which composes with the caller's values), so what the checker
 * proves about the 160-character budget is what callers get. */
#include "ussd/ussd_int.h"

#include "util/gsm.h"
#include "util/str.h"

#include <string.h>

int ussdi_width(const char *utf8)
{
    int sept = gsm_septets(utf8);
    if (sept < 0)
        return USSD_WIDTH_BAD;
    int chars = (int)gsm_chars(utf8);
    return sept > chars ? sept : chars;
}

void ussdi_cut(const char *utf8, int width, char *out, size_t outsz)
{
    char clean[512];
    gsm_sanitize(utf8 ? utf8 : "", clean, sizeof clean);
    size_t o = 0;
    int used = 0;
    for (size_t i = 0; clean[i];) {
        uint32_t cp;
        int k = str_utf8_next(clean + i, SIZE_MAX, &cp);
        int w = k ? gsm_width(cp) : 0; /* sanitized: always GSM-7 */
        if (!w || used + w > width || o + (size_t)k + 1 > outsz)
            break;
        if (cp == '\n')
            out[o] = ' ';
        else
            memcpy(out + o, clean + i, (size_t)k);
        o += (size_t)k;
        used += w;
        i += (size_t)k;
    }
    if (outsz)
        out[o < outsz ? o : outsz - 1] = 0;
}

void ussdi_expand(struct buf *b, const char *text, const struct ussd_session *s)
{
    const char *p = text;
    while (*p) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            buf_puts(b, p);
            return;
        }
        buf_append(b, p, (size_t)(open - p));
        char name[32];
        size_t n = (size_t)(close - open - 1);
        if (n >= sizeof name) {
            buf_append(b, open, (size_t)(close - open + 1));
            p = close + 1;
            continue;
        }
        memcpy(name, open + 1, n);
        name[n] = 0;
        int width = ussd_var_width(name);
        if (width < 0)
            width = 0;
        if (!s) {
            for (int i = 0; i < width; i++)
                buf_append(b, "X", 1);
        } else {
            char val[256];
            ussdi_cut(ussd_var(s, name), width, val, sizeof val);
            buf_puts(b, val);
        }
        p = close + 1;
    }
}

int ussdi_xwidth(const char *text, const struct ussd_session *s)
{
    struct buf b;
    buf_init(&b, 4096);
    ussdi_expand(&b, text, s);
    int w = b.over ? USSD_WIDTH_BAD : ussdi_width(b.data ? b.data : "");
    buf_free(&b);
    return w;
}

void ussdi_hint(struct buf *b, const struct ussd_menus *m, int lang, bool back, bool home)
{
    if (back)
        buf_printf(b, "0 %s", m->nav[NAV_BACK].t[lang]);
    if (back && home)
        buf_puts(b, ", ");
    if (home)
        buf_printf(b, "00 %s", m->nav[NAV_HOME].t[lang]);
}

int ussdi_paginate(const int *w, int n, int fixed0, int fixedn, int more, int *starts, int *bad)
{
    int p = 0, i = 0;
    starts[0] = 0;
    if (n == 0) {
        starts[1] = 0;
        if (fixed0 > USSD_BUDGET) {
            *bad = 0;
            return -1;
        }
        return 1;
    }
    while (i < n) {
        int sum = p ? fixedn : fixed0, j = i;
        while (j < n && sum + 1 + w[j] <= USSD_BUDGET) {
            sum += 1 + w[j];
            j++;
        }
        if (j < n) /* not the last page: make room for "98 More" */
            while (j > i && sum + more > USSD_BUDGET) {
                j--;
                sum -= 1 + w[j];
            }
        if (j == i) {
            *bad = i;
            return -1;
        }
        starts[++p] = j;
        i = j;
    }
    return p;
}

const struct utext *ussdi_msg(const struct ussd_menus *m, const char *key)
{
    for (int i = 0; i < m->nmsgs; i++)
        if (!strcmp(m->msgs[i].key, key))
            return &m->msgs[i].text;
    return NULL;
}

int ussdi_screen(const struct ussd_menus *m, const char *id)
{
    for (int i = 0; i < m->nscreens; i++)
        if (!strcmp(m->screens[i].id, id))
            return i;
    return -1;
}
