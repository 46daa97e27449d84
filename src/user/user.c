/* user: lipa's users as the rest of lipa needs them; see user.h. */
#include "user/user.h"
#include "store/users.h"

#include <string.h>

bool user_speaks_sw(struct store *st, int64_t id, const char *phone)
{
    struct user u;
    if (id && store_user_get(st, id, &u) == ST_OK)
        return !strcmp(u.language, "sw");
    return phone && *phone && store_user_by_phone(st, phone, &u) == ST_OK && !strcmp(u.language, "sw");
}
