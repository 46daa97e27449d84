/* app: building the context, menu swaps, provider health, the workers;
 * see app.h. */
#include "app/app.h"
#include "charge/charge.h"

#include "client/notice.h"
#include "http/cors.h"
#include "meter/meter.h"
#include "otp/otp.h"
#include "pay/pay.h"
#include "pay/paystack.h"
#include "pay/shared_token.h"
#include "http/ratelimit.h"
#include "pay/prompts.h"
#include "pay/api_wait.h"
#include "pay/purchase.h"
#include "pay/topup.h"
#include "sms/sms.h"
#include "store/meters.h"
#include "store/sms.h"
#include "store/ussd.h"
#include "text/commands.h"
#include "text/inbound.h"
#include "sms/outbox.h"
#include "ussd/ussd.h"
#include "water/water.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

/* Makes the parent directory of path (one level), so var/lipa.db works. */
static void make_parent(const char *path)
{
    char dir[1024];
    str_copy(dir, sizeof dir, path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = 0;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        log_warn("app.mkdir_failed", "dir=%s errno=%d", dir, errno);
}

/* What SMS bodies may hold, rendered at send time by whoever owns the
 * secret: a new kind of secret is one line here. */
static const struct outbox_placeholder placeholders[] = {
    {"{token}", "0000 0000 0000 0000 0000", purchase_render_token},
    {"{code}", "000000", otp_render_code},
    {NULL, NULL, NULL},
};

/* The providers lipad knows, by the name their LIPA_*_PROVIDER setting
 * takes (the setting's choices list the same names, so a name here is
 * always found): a second provider is its own file and a line here. */
struct named {
    const char *name;
    const void *provider;
};
static const struct named pay_providers[] = {{"daraja", &pay_daraja}, {NULL, NULL}};
static const struct named sms_providers[] = {{"at", &sms_at}, {NULL, NULL}};
static const struct named meter_providers[] = {{"tuya", &meter_tuya}, {NULL, NULL}};

static const void *pick(const struct named *t, const char *name)
{
    for (; t->name; t++)
        if (!strcmp(t->name, name))
            return t->provider;
    return NULL;
}

bool app_init(struct app *a, char *err, size_t errsz)
{
    pthread_mutex_init(&a->menus_lock, NULL);
    pthread_mutex_init(&a->health_lock, NULL);
    pthread_mutex_init(&a->wake_lock, NULL);
    for (size_t i = 0; i < sizeof a->wake / sizeof a->wake[0]; i++)
        pthread_cond_init(&a->wake[i], NULL);
    a->started_at = now_ms();
    a->placeholders = placeholders;
    if (a->cfg.log_debug)
        log_set_level(LOG_DEBUG);

    if (a->cfg.callback_secret && *a->cfg.callback_secret) {
        str_copy(a->callback_secret, sizeof a->callback_secret, a->cfg.callback_secret);
    } else {
        /* per-deployment and unguessable without configuration: from the pepper */
        uint8_t mac[32];
        static const char label[] = "lipa-mpesa-callback";
        crypto_hmac_sha256(a->cfg.pepper, strlen(a->cfg.pepper), label, sizeof label - 1, mac);
        crypto_hex(mac, 16, a->callback_secret, false);
    }

    if (store_is_file(a->cfg.db))
        make_parent(a->cfg.db);
    a->store = store_open(a->cfg.db, a->cfg.migrations, err, errsz);
    if (!a->store)
        return false;
    if (!store_memory_caps(a->store, (size_t)a->cfg.sessions_max, (size_t)a->cfg.callers_max)) {
        snprintf(err, errsz, "LIPA_SESSIONS_MAX, LIPA_CALLERS_MAX: out of memory for the tables");
        return false;
    }
    if (store_points_window(a->store, a->cfg.ussd_resume_window * 1000) != ST_OK)
        log_warn("ussd.resume_not_loaded", "reason=\"the database refused the read; callers who dropped start afresh\"");
    store_claims_as(a->store, a->cfg.instance, a->cfg.lease_ms);
    store_claims_recover(a->store);
    topup_recover(a);

    struct buf errors;
    buf_init(&errors, 64 * 1024);
    a->menus = ussd_menus_load(a->cfg.menus, &errors);
    if (!a->menus || !text_commands_load_dir(a->cfg.menus, &a->text_commands, &errors)) {
        snprintf(err, errsz, "LIPA_MENUS: menus in %s refused:\n%s", a->cfg.menus,
                 errors.data ? errors.data : "");
        buf_free(&errors);
        return false;
    }
    if (!a->text_commands)
        log_warn("sms.commands_off", "dir=%s file=%s reason=missing", a->cfg.menus, TEXT_COMMANDS_FILE);
    buf_free(&errors);

    a->pay = pick(pay_providers, a->cfg.pay_provider);
    a->sms = pick(sms_providers, a->cfg.sms_provider);
    a->meter = pick(meter_providers, a->cfg.meter_provider);
    if (!a->pay || !a->sms || !a->meter) {
        snprintf(err, errsz, "LIPA_PAY_PROVIDER, LIPA_SMS_PROVIDER, LIPA_METER_PROVIDER: unknown provider");
        return false;
    }
    a->pay_st = a->pay->create(&a->cfg);
    if (a->pay_st && a->pay->share_token) {
        /* a renewal is marked as under way for longer than its OAuth call
         * may take (the provider's HTTP timeout) */
        int64_t lease_ms = (a->cfg.http_timeout_ms > 0 ? a->cfg.http_timeout_ms : 10000) + 5000;
        if (!(a->pay_token = shared_token_new(a->store, a->pay->name, a->cfg.pepper, lease_ms))) {
            snprintf(err, errsz, "out of memory");
            return false;
        }
        a->pay->share_token(a->pay_st, &(struct pay_token_cache){shared_token_current, a->pay_token});
    }
    a->sms_st = a->sms->create(&a->cfg);
    a->meter_st = a->meter->create(&a->cfg);
    a->paystack = paystack_new(&a->cfg);
    /* a push may wait for a token and then for itself: both within the timeout */
    a->prompts = prompts_new(a->store, 3 * a->cfg.http_timeout_ms);
    a->pushwait = pushwait_new();
    a->pushed = pushwait_pushed;
    if (a->cfg.phone_rate_limit > 0 &&
        !(a->phone_limit = ratelimit_new(a->cfg.phone_rate_limit, a->cfg.phone_rate_window, 0))) {
        snprintf(err, errsz, "out of memory");
        return false;
    }
    if (a->cfg.client_rate_limit > 0 &&
        !(a->client_limit = ratelimit_new(a->cfg.client_rate_limit, a->cfg.client_rate_window, 0))) {
        snprintf(err, errsz, "out of memory");
        return false;
    }
    if (!cors_setting_ok(a->cfg.cors_origins)) {
        snprintf(err, errsz, "LIPA_CORS_ORIGINS: \"*\" or origins like https://shop.example, comma-separated");
        return false;
    }
    if (!a->pay_st || !a->sms_st || !a->meter_st || !a->paystack || !a->prompts || !a->pushwait) {
        snprintf(err, errsz, "provider clients could not be created");
        return false;
    }
    return true;
}

void app_free(struct app *a)
{
    if (a->store)
        store_maintain(a->store);
    /* the store first: closing it runs what the committer still holds, and
     * their callbacks (a purchase stored: prompts_hold, app_wake) use the
     * rest of the context */
    store_close(a->store);
    a->store = NULL;
    if (a->pay_st)
        a->pay->destroy(a->pay_st);
    shared_token_free(a->pay_token);
    if (a->sms_st)
        a->sms->destroy(a->sms_st);
    if (a->meter_st)
        a->meter->destroy(a->meter_st);
    paystack_free(a->paystack);
    prompts_free(a->prompts);
    pushwait_free(a->pushwait);
    ratelimit_free(a->phone_limit);
    ratelimit_free(a->client_limit);
    ussd_menus_unref(a->menus);
    text_commands_unref(a->text_commands);
    pthread_mutex_destroy(&a->menus_lock);
    pthread_mutex_destroy(&a->health_lock);
    pthread_mutex_destroy(&a->wake_lock);
    for (size_t i = 0; i < sizeof a->wake / sizeof a->wake[0]; i++)
        pthread_cond_destroy(&a->wake[i]);
}

struct ussd_menus *app_menus(struct app *a)
{
    pthread_mutex_lock(&a->menus_lock);
    struct ussd_menus *m = a->menus;
    ussd_menus_ref(m);
    pthread_mutex_unlock(&a->menus_lock);
    return m;
}

bool app_reload_menus(struct app *a, struct buf *errors)
{
    struct ussd_menus *fresh = ussd_menus_load(a->cfg.menus, errors);
    /* the texting commands (sms.yaml) swap with the menus, or neither does */
    struct text_commands *cmds = NULL;
    bool sms_ok = text_commands_load_dir(a->cfg.menus, &cmds, errors);
    if (!fresh || !sms_ok) {
        ussd_menus_unref(fresh);
        text_commands_unref(cmds);
        return false;
    }
    pthread_mutex_lock(&a->menus_lock);
    struct ussd_menus *old = a->menus;
    struct text_commands *old_cmds = a->text_commands;
    a->menus = fresh;
    a->text_commands = cmds;
    pthread_mutex_unlock(&a->menus_lock);
    ussd_menus_unref(old); /* hops still holding it keep it alive */
    text_commands_unref(old_cmds);
    return true;
}

void app_health_set(struct app *a, enum provider_id p, bool ok, const char *detail)
{
    pthread_mutex_lock(&a->health_lock);
    int64_t now = now_ms();
    a->health[p].known = true;
    a->health[p].ok = ok;
    a->health[p].at = now;
    if (ok) {
        a->health[p].failures = 0;
        a->health[p].failing_since = 0;
    } else if (a->health[p].failures++ == 0) {
        a->health[p].failing_since = now;
    }
    /* shown by the public health report: a provider's error text may
     * quote a subscriber's number */
    log_mask_phones(detail ? detail : "", a->health[p].detail, sizeof a->health[p].detail);
    pthread_mutex_unlock(&a->health_lock);
}

/* ---- workers ---- */

struct worker {
    const char *name;
    int (*work)(struct app *a);
    unsigned wake;             /* the app_work it is woken for */
};

/* Upkeep of the store: idle USSD sessions leave memory, the WAL is copied
 * back into the database (store.h). Runs on its poll interval only. */
static int maintain_work(struct app *a)
{
    store_maintain(a->store);
    return 0;
}

/* Paystack's sweeper: water orders, then integrators' charges and their
 * escrow releases. */
static int paystack_work(struct app *a) { return water_paystack_work(a) + charge_work(a); }

static const struct worker workers[] = {
    {"payments", purchase_work, WORK_PAYMENTS},
    {"topups", topup_work, WORK_TOPUPS},
    {"outbox", outbox_work, WORK_OUTBOX},
    {"text", text_work, WORK_TEXT},
    {"maintain", maintain_work, 0},
    {"paystack", paystack_work, WORK_PAYSTACK},
    {"notices", client_notice_work, WORK_NOTICES},
};

void app_wake(struct app *a, unsigned what)
{
    /* busy workers will see the work on their next pass: no lock, no
     * futex wake on the hop that queued it. A wake racing a worker that is
     * just going to sleep is caught by its poll interval. */
    unsigned asleep = atomic_load(&a->asleep), hit = 0;
    for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++)
        if ((workers[i].wake & what) && (asleep & (1u << i)))
            hit |= 1u << i;
    if (!hit)
        return;
    pthread_mutex_lock(&a->wake_lock);
    for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++)
        if (hit & (1u << i))
            pthread_cond_signal(&a->wake[i]);
    pthread_mutex_unlock(&a->wake_lock);
}

struct worker_arg {
    struct app *a;
    const struct worker *w;
    unsigned idx;
};

static void sleep_until_woken(struct app *a, unsigned idx, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->wake_lock);
    atomic_fetch_or(&a->asleep, 1u << idx);
    if (!atomic_load(&a->stopping))
        pthread_cond_timedwait(&a->wake[idx], &a->wake_lock, &ts);
    atomic_fetch_and(&a->asleep, ~(1u << idx));
    pthread_mutex_unlock(&a->wake_lock);
}

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    free(arg);
    /* background work leans towards the threads answering requests: nice 5
     * (Linux: per thread). Not lower: workers hold the store's writer lock,
     * which the committer needs (for M-Pesa callbacks waiting to be
     * answered, and for purchases to reach the database and their STK
     * push), and a holder that cannot get the CPU holds them all (measured
     * 2026-11-24 under the benchmark script: nice 10 or 19, or SCHED_IDLE,
     * gave p99 no better or worse, before and after the intake; README,
     * Speed) */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5) != 0)
        log_warn("worker.nice_failed", "name=%s errno=%d", wa.w->name, errno);
    char tname[16];
    snprintf(tname, sizeof tname, "w-%s", wa.w->name); /* shown by top -H, perf */
    pthread_setname_np(pthread_self(), tname);
    log_info("worker.started", "name=%s", wa.w->name);
    while (!atomic_load(&wa.a->stopping)) {
        int n = wa.w->work(wa.a);
        if (n == 0)
            sleep_until_woken(wa.a, wa.idx, wa.a->cfg.worker_poll_ms);
    }
    log_info("worker.stopped", "name=%s", wa.w->name);
    return NULL;
}

bool app_workers_start(struct app *a)
{
    _Static_assert(sizeof workers / sizeof workers[0] <= sizeof a->workers / sizeof a->workers[0] &&
                       sizeof a->workers / sizeof a->workers[0] <= sizeof a->wake / sizeof a->wake[0],
                   "struct app has room for every worker thread");
    for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            return false;
        wa->a = a;
        wa->w = &workers[i];
        wa->idx = (unsigned)i;
        if (pthread_create(&a->workers[a->nworkers], NULL, worker_main, wa) != 0) {
            free(wa);
            return false;
        }
        a->nworkers++;
    }
    return true;
}

void app_workers_stop(struct app *a)
{
    atomic_store(&a->stopping, true);
    pthread_mutex_lock(&a->wake_lock);
    for (int i = 0; i < a->nworkers; i++)
        pthread_cond_signal(&a->wake[i]);
    pthread_mutex_unlock(&a->wake_lock);
    for (int i = 0; i < a->nworkers; i++)
        pthread_join(a->workers[i], NULL);
    a->nworkers = 0;
}
