/* ussd text: Africa's Talking's `text` field, every input of a session so
 * far joined by '*', and how one hop's text relates to the session's last
 * one (see ussd.h). Pure; the handler decides what each relation does. */
#include "ussd/ussd.h"

#include <string.h>

enum ussd_text_rel ussd_text_relate(const char *last, const char *text, const char **input)
{
    size_t nl = strlen(last), nt = strlen(text);
    *input = NULL;
    if (nl == nt && !memcmp(last, text, nt))
        return USSD_TEXT_SAME;
    if (!nl) { /* the session has seen the start screen only */
        if (strchr(text, '*'))
            return USSD_TEXT_OTHER;
        *input = text;
        return USSD_TEXT_NEXT;
    }
    if (!nt) /* the first hop again, after the session went on */
        return USSD_TEXT_OLDER;
    if (nt > nl && !memcmp(text, last, nl) && text[nl] == '*') {
        if (strchr(text + nl + 1, '*'))
            return USSD_TEXT_OTHER;
        *input = text + nl + 1;
        return USSD_TEXT_NEXT;
    }
    if (nl > nt && !memcmp(last, text, nt) && last[nt] == '*')
        return USSD_TEXT_OLDER;
    return USSD_TEXT_OTHER;
}

int ussd_text_split(char *text, char **in, int max)
{
    if (!*text)
        return 0;
    int n = 0;
    for (char *p = text;;) {
        if (n == max)
            return -1;
        in[n++] = p;
        char *star = strchr(p, '*');
        if (!star)
            return n;
        *star = 0;
        p = star + 1;
    }
}
