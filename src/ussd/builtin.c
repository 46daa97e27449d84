/* ussd builtin: the registries the menu checker and the engine share: the
 * built-in steps menus may name, the session vars placeholders may show
 * (with the width each may take on a screen) and the list sources. A new
 * built-in is a row here plus its case in the host's action callback. */
#include "ussd/ussd_int.h"

#include <string.h>

static const struct ussd_builtin builtins[] = {
    {"electricity_amount", USSD_VALIDATE, {"amount", "meter"}, {"kwh", "min", "max"},
     {"amount_range", "amount_invalid"}},
    {"buy_electricity", USSD_ACTION, {"meter", "amount"}, {NULL}, {"purchase_failed", "not_assigned"}},
    {"set_language", USSD_ACTION, {"lang"}, {NULL}, {NULL}},
    /* water: litres typed in are priced (wq: the litres amount was priced
     * for; a size picked from a menu is priced by the handler); buying
     * stores the order; resend_code issues a fresh code by SMS */
    {"water_amount", USSD_VALIDATE, {"liters"}, {"amount", "wmin", "wmax", "wq"}, {"water_range", "water_invalid"}},
    {"buy_water", USSD_ACTION, {"liters"}, {"amount"}, {"water_failed"}},
    {"resend_code", USSD_ACTION, {"wref"}, {NULL}, {"code_gone", "code_limit", "code_failed"}},
};

static const char *const lang_values[] = {"en", "sw", NULL};

static const struct {
    const char *key;
    int width;
    const char *const *values;
} vars[] = {
    {"meter", 20, NULL},      {"meter_name", 20, NULL}, {"amount", 6, NULL}, {"kwh", 10, NULL},
    {"min", 6, NULL},         {"max", 6, NULL},         {"lang", 2, lang_values},
    {"liters", 5, NULL},      {"wmin", 5, NULL},        {"wmax", 5, NULL},   {"wq", 5, NULL},
    {"wref", 40, NULL},       {"wref_name", 20, NULL},
};

static const char *const sources[] = {"meters", "codes"};

const struct ussd_builtin *ussd_builtin_find(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name))
            return &builtins[i];
    return NULL;
}

int ussd_var_width(const char *key)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (!strcmp(vars[i].key, key))
            return vars[i].width;
    return -1;
}

const char *const *ussdi_var_values(const char *key)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (!strcmp(vars[i].key, key))
            return vars[i].values;
    return NULL;
}

bool ussdi_source_known(const char *source)
{
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (!strcmp(sources[i], source))
            return true;
    return false;
}
