/* client/notice: queuing and sending integrators' notices; see notice.h. */
#include "client/notice.h"

#include "client/client.h"
#include "store/clients.h"
#include "store/notices.h"
#include "util/aside.h"
#include "util/httpc.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 8

bool client_notice_queue(struct app *a, const struct payment *p, const json_t *body)
{
    struct client c;
    if (!p->client_id[0])
        return true;
    enum store_rc rc = store_client_get(a->store, p->client_id, &c);
    if (rc == ST_NOT_FOUND || (rc == ST_OK && !c.callback_url[0]))
        return true; /* nobody to tell: the integrator asks for the status */
    if (rc != ST_OK)
        return false;
    struct client_notice *n = calloc(1, sizeof *n);
    char *text = json_dumps(body, JSON_COMPACT);
    bool ok = false;
    if (!n || !text)
        goto out;
    const char *event = json_string_value(json_object_get(body, "event"));
    if (!str_copy(n->body, sizeof n->body, text)) {
        log_error("notice.too_long", "client=%s payment=%lld bytes=%zu", p->client_id, (long long)p->id,
                  strlen(text));
        ok = true; /* refusing would undo the payment's outcome */
        goto out;
    }
    str_copy(n->client_id, sizeof n->client_id, p->client_id);
    str_copy(n->event, sizeof n->event, event ? event : "");
    n->payment_id = p->id;
    n->next_at = now_ms();
    rc = store_notice_add(a->store, n);
    ok = rc == ST_OK || rc == ST_CONFLICT; /* conflict: that event of that payment is queued already */
    if (rc == ST_OK)
        log_info("notice.queued", "notice=%lld client=%s payment=%lld event=%s", (long long)n->id, n->client_id,
                 (long long)p->id, n->event);
out:
    free(text);
    free(n);
    return ok;
}

int64_t client_notice_delay_ms(int64_t base_ms, int64_t attempts)
{
    static const int64_t factor[] = {1, 6, 30, 180, 360};
    int64_t i = attempts < 1 ? 0 : attempts - 1;
    int64_t last = (int64_t)(sizeof factor / sizeof factor[0]) - 1;
    return base_ms * factor[i < last ? i : last];
}

/* Ends notice n without an attempt: there is nowhere (or nothing) to send. */
static void fail_unsent(struct app *a, struct client_notice *n, const char *why)
{
    str_copy(n->status, sizeof n->status, "failed");
    str_copy(n->last_error, sizeof n->last_error, why);
    if (store_notice_save(a->store, n) != ST_OK)
        log_error("notice.save_failed", "notice=%lld", (long long)n->id);
    log_warn("notice.failed", "notice=%lld client=%s payment=%lld attempts=%lld reason=\"%s\"", (long long)n->id,
             n->client_id, (long long)n->payment_id, (long long)n->attempts, why);
}

/* Counts the attempt and stores when to try again should it fail (or be
 * cut short by a stop), before anything is sent; false when that could
 * not be stored (nothing is sent then). */
static bool begin_attempt(struct app *a, struct client_notice *n, int64_t now, int64_t *attempt_id)
{
    n->attempts++;
    n->next_at = now + client_notice_delay_ms(a->cfg.notice_retry_ms, n->attempts);
    if (store_begin(a->store) != ST_OK)
        return false;
    if (store_notice_save(a->store, n) == ST_OK && store_notice_attempt_add(a->store, n->id, now, attempt_id) == ST_OK &&
        store_commit(a->store) == ST_OK)
        return true;
    store_rollback(a->store);
    return false;
}

/* Posts n to url, signed with secret; the HTTP status (0: no answer) and
 * why it does not count as delivered ("" when it does) into err. */
static long post(struct app *a, const struct client_notice *n, const char *url, const char *secret, char *err,
                 size_t errsz)
{
    char sig[65], sig_h[100], event_h[80], id_h[48];
    size_t len = strlen(n->body);
    client_sign(secret, n->body, len, sig);
    snprintf(sig_h, sizeof sig_h, "%s: %s", CLIENT_SIGNATURE_HEADER, sig);
    snprintf(event_h, sizeof event_h, "X-Lipa-Event: %s", n->event);
    snprintf(id_h, sizeof id_h, "X-Lipa-Delivery: %lld", (long long)n->id);
    const char *const headers[] = {"Content-Type: application/json", "User-Agent: lipa", sig_h, event_h, id_h, NULL};
    struct httpc_req rq = {.method = "POST", .url = url, .headers = headers, .body = n->body, .body_len = len,
                           .timeout_ms = a->cfg.notice_timeout_ms};
    struct httpc_resp rs;
    long status = httpc_do(&rq, &rs) ? rs.status : 0;
    if (!status)
        snprintf(err, errsz, "%s", rs.error[0] ? rs.error : "no answer");
    else if (status < 200 || status > 299)
        snprintf(err, errsz, "HTTP %ld", status);
    else
        err[0] = 0;
    httpc_resp_free(&rs);
    return status;
}

/* One attempt at notice n: recorded before and after. */
static void send_one(struct app *a, struct client_notice *n)
{
    struct client c;
    char secret[CLIENT_SECRET_LEN + 1];
    enum store_rc rc = store_client_get(a->store, n->client_id, &c);
    if (rc == ST_ERROR)
        return; /* the store is in trouble: the next pass tries again */
    if (rc == ST_NOT_FOUND || !c.callback_url[0]) {
        fail_unsent(a, n, "the client has no callback URL");
        return;
    }
    if (!client_secret(a, &c, secret)) {
        fail_unsent(a, n, "the client's webhook secret does not open (was LIPA_PEPPER changed?)");
        return;
    }
    int64_t start = now_ms(), attempt_id = 0;
    if (!begin_attempt(a, n, start, &attempt_id)) {
        explicit_bzero(secret, sizeof secret);
        return;
    }
    char err[256];
    long status = post(a, n, c.callback_url, secret, err, sizeof err);
    explicit_bzero(secret, sizeof secret);
    int64_t end = now_ms();
    bool delivered = !err[0];
    n->last_status = status;
    str_copy(n->last_error, sizeof n->last_error, err);
    if (delivered) {
        str_copy(n->status, sizeof n->status, "delivered");
        n->delivered_at = end;
    } else if (n->next_at > n->created_at + a->cfg.notice_max_age * 1000) {
        str_copy(n->status, sizeof n->status, "failed"); /* the next try would be past its age */
    }
    if (store_begin(a->store) != ST_OK)
        return; /* next_at is stored: it is sent again then */
    if (store_notice_attempt_end(a->store, attempt_id, status, err, end - start) != ST_OK ||
        store_notice_save(a->store, n) != ST_OK || store_commit(a->store) != ST_OK) {
        store_rollback(a->store);
        return;
    }
    if (delivered)
        log_info("notice.delivered", "notice=%lld client=%s payment=%lld event=%s attempt=%lld status=%ld",
                 (long long)n->id, n->client_id, (long long)n->payment_id, n->event, (long long)n->attempts, status);
    else if (!strcmp(n->status, "failed"))
        log_warn("notice.failed", "notice=%lld client=%s payment=%lld attempts=%lld status=%ld error=\"%s\"",
                 (long long)n->id, n->client_id, (long long)n->payment_id, (long long)n->attempts, status, err);
    else
        log_warn("notice.retry", "notice=%lld client=%s payment=%lld attempt=%lld status=%ld error=\"%s\" "
                 "next_in_ms=%lld", (long long)n->id, n->client_id, (long long)n->payment_id,
                 (long long)n->attempts, status, err, (long long)(n->next_at - end));
}

int client_notice_work(struct app *a)
{
    static __thread struct client_notice due[BATCH]; /* 64 KiB: not on the stack */
    int n = store_notices_due(a->store, now_ms(), due, BATCH);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++) {
        send_one(a, &due[i]);
        step_aside();
    }
    return n < 0 ? 0 : n;
}
