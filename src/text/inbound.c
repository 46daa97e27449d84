/* text/inbound: the SMS worker that answers texted commands; see inbound.h.
 *
 * Who gets what, in which language:
 * - The answer goes in the sender's language: their account's, or for a
 *   number with no account the language of the pattern that matched
 *   (English when nothing matched).
 * - Text that matches no command: help (messages.help) to a registered
 *   number, how to register (messages.unregistered) to another.
 * - A command whose action needs an account (balance, buy, meters, token),
 *   from a number with none: how to register.
 * - A meter is named by its number, its name, or its position in the
 *   sender's METERS list (active meters, in assignment order), tried in
 *   that order; with one active meter it may be left out. A name two
 *   meters share, or no meter named by a sender with several, gets the
 *   list (which_meter). A meter that is not theirs: not_yours, whether or
 *   not such a meter exists.
 * - Nothing the sender typed is echoed but the meter they named, cut to
 *   METER_ECHO characters and made GSM-7 without braces (text_render).
 * - Replies that did nothing (help to a text that matches no command, how
 *   to register) go to one sender at most LIPA_SMS_UNKNOWN_REPLIES times
 *   per LIPA_SMS_UNKNOWN_WINDOW seconds, counted in the store (so across
 *   lipads and restarts); past that the text is kept, marked unanswered,
 *   and nobody pays for a reply. A number's autoresponder answering our
 *   help with its own text would otherwise loop for ever. A command that
 *   matched (HELP included) is always answered. */
#include "text/inbound.h"

#include "meter/meter.h"
#include "pay/purchase.h"
#include "store/meters.h"
#include "store/payments.h"
#include "store/users.h"
#include "store/ussd.h"
#include "text/commands.h"
#include "sms/outbox.h"
#include "store/sms.h"
#include "water/water.h"
#include "util/log.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INBOUND_BATCH 4
#define INBOUND_MAX_ATTEMPTS 5     /* store trouble: then the SMS is failed */
#define INBOUND_BACKOFF_CAP_MS 60000
#define METER_ECHO 20              /* characters of a named meter echoed back */
#define LIST_MAX 700

struct text_commands *text_commands_current(struct app *a)
{
    pthread_mutex_lock(&a->menus_lock);
    struct text_commands *c = a->text_commands;
    text_commands_ref(c);
    pthread_mutex_unlock(&a->menus_lock);
    return c;
}

/* One inbound SMS being answered. */
struct job {
    const struct text_world *w;
    const struct config *cfg;
    const struct sms_inbound *in;
    const struct text_commands *cmds;
    struct store_caller c;
    enum text_lang lang;
    struct text_match m;
    struct text_answer *out;
};

static const char *lang_code(enum text_lang l) { return l == TEXT_SW ? "sw" : "en"; }

/* ---- composing ---- */

static void say(struct job *j, const char *tmpl, const struct text_var *vars, size_t n)
{
    text_render(tmpl, vars, n, j->out->reply, sizeof j->out->reply);
}

static void say_message(struct job *j, const char *key, const struct text_var *vars, size_t n)
{
    say(j, text_message(j->cmds, key, j->lang), vars, n);
}

static void say_reply(struct job *j, const char *key, const struct text_var *vars, size_t n)
{
    const char *t = text_reply(j->m.cmd, key, j->lang);
    if (!t) { /* the loader guarantees every reply an action uses */
        log_error("sms.no_reply", "command=%s key=%s", text_command_name(j->m.cmd), key);
        t = text_message(j->cmds, "error", j->lang);
    }
    say(j, t, vars, n);
}

static void num(char *out, size_t n, int64_t v) { snprintf(out, n, "%lld", (long long)v); }

/* The sender's active meters in assignment order (the METERS list). */
static int active_meters(const struct job *j, const struct store_caller_meter **out, int max)
{
    int n = 0;
    for (int i = 0; i < j->c.nmeters && n < max; i++)
        if (j->c.meters[i].active)
            out[n++] = &j->c.meters[i];
    return n;
}

/* "1. Nyumba A (37000000001)" lines. */
static void meter_list(const struct job *j, char *out, size_t outsz)
{
    const struct store_caller_meter *act[STORE_CALLER_METERS];
    int n = active_meters(j, act, STORE_CALLER_METERS);
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < n && o + 1 < outsz; i++) {
        int w;
        if (act[i]->name[0])
            w = snprintf(out + o, outsz - o, "%s%d. %s (%s)", i ? "\n" : "", i + 1, act[i]->name, act[i]->id);
        else
            w = snprintf(out + o, outsz - o, "%s%d. %s", i ? "\n" : "", i + 1, act[i]->id);
        if (w < 0 || (size_t)w >= outsz - o) {
            out[o] = 0; /* no half entry */
            break;
        }
        o += (size_t)w;
    }
}

/* ---- naming a meter ---- */

enum pick { PICK_OK, PICK_NONE, PICK_WHICH, PICK_NOT_YOURS };

static bool same_text(const char *normalized, const char *raw)
{
    char n[TEXT_NORM_MAX];
    return raw[0] && text_normalize(raw, n, sizeof n) && !strcmp(n, normalized);
}

static enum pick pick_meter(const struct job *j, const char *named, const struct store_caller_meter **out)
{
    const struct store_caller_meter *act[STORE_CALLER_METERS];
    int n = active_meters(j, act, STORE_CALLER_METERS);
    *out = NULL;
    if (!named[0]) {
        if (n == 1) {
            *out = act[0];
            return PICK_OK;
        }
        return n == 0 ? PICK_NONE : PICK_WHICH;
    }
    for (int i = 0; i < j->c.nmeters; i++)
        if (same_text(named, j->c.meters[i].id)) {
            *out = &j->c.meters[i];
            return PICK_OK;
        }
    int found = 0;
    for (int i = 0; i < j->c.nmeters; i++)
        if (same_text(named, j->c.meters[i].name)) {
            *out = &j->c.meters[i];
            found++;
        }
    if (found == 1)
        return PICK_OK;
    if (found > 1) {
        *out = NULL;
        return PICK_WHICH;
    }
    int64_t pos;
    if (str_to_i64(named, 1, n, &pos)) {
        *out = act[pos - 1];
        return PICK_OK;
    }
    return PICK_NOT_YOURS;
}

/* Answers a failed pick; true when there was nothing to answer. */
static bool picked(struct job *j, enum pick p)
{
    char list[LIST_MAX], echo[METER_ECHO * 4 + 1];
    switch (p) {
    case PICK_OK:
        return true;
    case PICK_NONE:
        say_message(j, "no_meters", NULL, 0);
        j->out->outcome = "no_meters";
        return false;
    case PICK_WHICH:
        meter_list(j, list, sizeof list);
        say_message(j, "which_meter", (const struct text_var[]){{"list", list}}, 1);
        j->out->outcome = "which_meter";
        return false;
    case PICK_NOT_YOURS: {
        /* what they typed, cut to METER_ECHO characters */
        str_copy_chars(echo, sizeof echo, j->m.meter, METER_ECHO);
        say_message(j, "not_yours", (const struct text_var[]){{"meter", echo}}, 1);
        j->out->outcome = "not_yours";
        return false;
    }
    }
    return false;
}

/* ---- actions ---- */

static void do_balance(struct job *j)
{
    const struct store_caller_meter *m;
    if (!picked(j, pick_meter(j, j->m.meter, &m)))
        return;
    json_t *status = NULL;
    struct meter_res res = {0};
    char kwh[24] = "";
    const char *name = m->name[0] ? m->name : "-";
    if (!j->w->meter_status(j->w->ctx, m->id, &status, &res)) {
        j->out->retry = true;
        return;
    }
    size_t i;
    json_t *it;
    json_array_foreach(res.outcome == METER_OK ? status : NULL, i, it) {
        const char *code = json_string_value(json_object_get(it, "code"));
        json_t *v = json_object_get(it, "value");
        if (!code || strcmp(code, "balance_energy") || !json_is_number(v))
            continue;
        /* hundredths of a kWh; shown in tenths like every other kWh
         * figure, rounded down (never more than the meter holds) */
        double h = json_number_value(v);
        if (h > -1e15 && h < 1e15) {
            int64_t hi = (int64_t)h;
            if ((double)hi > h)
                hi--; /* floor for a fractional or negative reading */
            purchase_kwh_text(hi >= 0 ? hi / 10 : -((-hi + 9) / 10), kwh);
        }
    }
    json_decref(status);
    if (kwh[0]) {
        say_reply(j, "ok", (const struct text_var[]){{"meter", m->id}, {"name", name}, {"kwh", kwh}}, 3);
        j->out->outcome = "balance";
    } else {
        say_reply(j, "unavailable", (const struct text_var[]){{"meter", m->id}, {"name", name}}, 2);
        j->out->outcome = "balance_unavailable";
    }
}

static void say_range(struct job *j, const char *key, int64_t min, int64_t max)
{
    char lo[24], hi[24];
    num(lo, sizeof lo, min);
    num(hi, sizeof hi, max);
    say_reply(j, key, (const struct text_var[]){{"min", lo}, {"max", hi}}, 2);
}

static void do_buy(struct job *j)
{
    const struct config *cfg = j->cfg;
    const struct store_caller_meter *m;
    int64_t amount;
    if (!str_to_i64(j->m.amount, 1, 999999999, &amount)) {
        say_range(j, "amount_range", cfg->min_amount, cfg->max_amount);
        j->out->outcome = "buy_amount";
        return;
    }
    if (!picked(j, pick_meter(j, j->m.meter, &m)))
        return;
    char idem[128];
    snprintf(idem, sizeof idem, "sms:%s", j->in->at_id);
    struct purchase_req r = {
        .origin = "sms", .idem_key = idem, .user_id = j->c.user.id, .phone = j->in->phone,
        .meter_id = m->id, .amount = amount, .known = m,
    };
    struct payment p;
    const char *name = m->name[0] ? m->name : "-";
    char amt[24], kwh[24];
    switch (j->w->buy(j->w->ctx, &r, &p)) {
    case PR_NONE:
        num(amt, sizeof amt, p.amount);
        purchase_kwh_text(p.energy, kwh);
        say_reply(j, "ok", (const struct text_var[]){{"meter", m->id}, {"name", name}, {"amount", amt}, {"kwh", kwh}},
                  4);
        j->out->outcome = "buy";
        return;
    case PR_AMOUNT_RANGE:
        say_range(j, "amount_range", cfg->min_amount, cfg->max_amount);
        j->out->outcome = "buy_amount";
        return;
    case PR_METER_INACTIVE:
        say_reply(j, "inactive", (const struct text_var[]){{"meter", m->id}, {"name", name}}, 2);
        j->out->outcome = "buy_inactive";
        return;
    case PR_NO_METER:
    case PR_NOT_ASSIGNED:
        picked(j, PICK_NOT_YOURS);
        return;
    case PR_STORE:
        j->out->retry = true;
        return;
    }
}

static void do_meters(struct job *j)
{
    const struct store_caller_meter *act[STORE_CALLER_METERS];
    int n = active_meters(j, act, STORE_CALLER_METERS);
    if (!n) {
        picked(j, PICK_NONE);
        return;
    }
    char list[LIST_MAX], count[16];
    meter_list(j, list, sizeof list);
    num(count, sizeof count, n);
    say_reply(j, "ok", (const struct text_var[]){{"list", list}, {"count", count}}, 2);
    j->out->outcome = "meters";
}

static void do_token(struct job *j)
{
    const struct store_caller_meter *m = NULL;
    if (j->m.meter[0] && !picked(j, pick_meter(j, j->m.meter, &m)))
        return;
    struct payment p;
    enum store_rc rc = j->w->last_token(j->w->ctx, j->in->phone, m ? m->id : "", &p);
    if (rc == ST_NOT_FOUND) {
        say_reply(j, "none", NULL, 0);
        j->out->outcome = "token_none";
        return;
    }
    if (rc != ST_OK) {
        j->out->retry = true;
        return;
    }
    const char *name = "-";
    for (int i = 0; i < j->c.nmeters; i++)
        if (!strcmp(j->c.meters[i].id, p.meter_id) && j->c.meters[i].name[0])
            name = j->c.meters[i].name;
    char amt[24], kwh[24];
    num(amt, sizeof amt, p.amount);
    purchase_kwh_text(p.energy, kwh);
    say_reply(j, "ok",
              (const struct text_var[]){{"meter", p.meter_id}, {"name", name}, {"kwh", kwh}, {"amount", amt},
                                       {"receipt", p.mpesa_receipt[0] ? p.mpesa_receipt : "-"}},
              5);
    j->out->payment_id = p.id; /* the outbox renders {token} from it when sending */
    j->out->outcome = "token";
}

static void do_water(struct job *j)
{
    const struct config *cfg = j->cfg;
    struct water_quote q;
    char why[160];
    int64_t v;
    bool ok;
    if (j->m.liters[0])
        ok = str_to_i64(j->m.liters, 1, 999999, &v) && water_quote_liters(cfg, v, &q, why, sizeof why);
    else
        ok = str_to_i64(j->m.amount, 1, 999999999, &v) && water_quote(cfg, v, &q, why, sizeof why);
    if (!ok) {
        say_range(j, "invalid", cfg->water_min_amount, cfg->water_max_amount);
        j->out->outcome = "water_invalid";
        return;
    }
    char idem[128];
    snprintf(idem, sizeof idem, "sms:%s", j->in->at_id);
    struct payment p;
    if (!j->w->water(j->w->ctx, idem, j->in->phone, j->c.registered ? j->c.user.id : 0, &q, &p, why, sizeof why)) {
        log_warn("sms.water_refused", "inbound=%lld why=\"%s\"", (long long)j->in->id, why);
        say_reply(j, "failed", NULL, 0);
        j->out->outcome = "water_failed";
        return;
    }
    char amt[24], lit[24];
    num(amt, sizeof amt, p.amount);
    num(lit, sizeof lit, p.liters);
    say_reply(j, "ok", (const struct text_var[]){{"liters", lit}, {"amount", amt}}, 2);
    j->out->outcome = "water";
}

static void do_opt(struct job *j, bool out)
{
    if (!j->w->opt_out(j->w->ctx, j->in->phone, out)) {
        j->out->retry = true;
        return;
    }
    char masked[20];
    log_info(out ? "sms.opted_out" : "sms.opted_in", "phone=%s", log_phone(j->in->phone, masked));
    say_reply(j, "ok", NULL, 0);
    j->out->outcome = out ? "stop" : "start";
}

/* True when this sender has had its share of replies that did nothing
 * (see the top); j is then marked unanswered. A store error answers. */
static bool over_limit(struct job *j)
{
    const struct config *cfg = j->cfg;
    if (cfg->sms_unknown_replies <= 0)
        return false;
    int64_t n = j->w->idle_replies(j->w->ctx, j->in->phone, now_ms() - cfg->sms_unknown_window * 1000);
    if (n < 0 || n < cfg->sms_unknown_replies)
        return false;
    j->out->quiet = true;
    j->out->outcome = "unanswered";
    return true;
}

/* Decides the answer into j->out (or j->out->retry). */
static void decide(struct job *j)
{
    char norm[TEXT_NORM_MAX];
    if (!j->w->caller(j->w->ctx, j->in->phone, &j->c)) {
        j->out->retry = true;
        return;
    }
    bool matched = text_normalize(j->in->text, norm, sizeof norm) && text_commands_match(j->cmds, norm, &j->m);
    if (j->c.registered)
        j->lang = !strcmp(j->c.user.language, "sw") ? TEXT_SW : TEXT_EN;
    else
        j->lang = matched ? j->m.lang : TEXT_EN;
    enum text_action act = matched ? text_command_action(j->m.cmd) : TEXT_HELP;
    if ((!matched || text_action_needs_user(act)) && !j->c.registered) {
        if (over_limit(j))
            return;
        say_message(j, "unregistered", NULL, 0);
        j->out->outcome = "unregistered";
        return;
    }
    if (!matched) {
        if (over_limit(j))
            return;
        say_message(j, "help", NULL, 0);
        j->out->outcome = "unknown";
        return;
    }
    switch (act) {
    case TEXT_BALANCE: do_balance(j); break;
    case TEXT_BUY: do_buy(j); break;
    case TEXT_METERS: do_meters(j); break;
    case TEXT_TOKEN: do_token(j); break;
    case TEXT_WATER: do_water(j); break;
    case TEXT_STOP: do_opt(j, true); break;
    case TEXT_START: do_opt(j, false); break;
    case TEXT_HELP:
    case TEXT_NACTIONS:
        say_message(j, "help", NULL, 0);
        j->out->outcome = "help";
        break;
    }
}

void text_answer_for(const struct text_world *w, const struct config *cfg, const struct text_commands *cmds,
                     const struct sms_inbound *in, struct text_answer *out)
{
    struct job *j = calloc(1, sizeof *j);
    memset(out, 0, sizeof *out);
    if (!j) {
        out->retry = true;
        return;
    }
    *j = (struct job){.w = w, .cfg = cfg, .in = in, .cmds = cmds, .out = out};
    decide(j);
    out->command = j->m.cmd ? text_command_name(j->m.cmd) : NULL;
    out->lang = j->lang;
    free(j);
}

/* ---- lipad's world: the store and the meter cloud ---- */

static bool world_caller(void *ctx, const char *phone, struct store_caller *c)
{
    struct app *a = ctx;
    return store_caller(a->store, phone, c) == ST_OK;
}

static bool world_meter_status(void *ctx, const char *meter_id, json_t **status, struct meter_res *res)
{
    struct app *a = ctx;
    struct meter row;
    if (store_meter_get(a->store, meter_id, &row) != ST_OK)
        return false;
    a->meter->status(a->meter_st, row.device_id, status, res);
    app_health_set(a, PROV_TUYA, res->outcome != METER_RETRY, res->outcome == METER_OK ? "status read" : res->detail);
    return true;
}

static enum purchase_refusal world_buy(void *ctx, const struct purchase_req *r, struct payment *p)
{
    return purchase_start(ctx, r, p);
}

static enum store_rc world_last_token(void *ctx, const char *phone, const char *meter_id, struct payment *p)
{
    struct app *a = ctx;
    return store_sms_last_token(a->store, phone, meter_id, p);
}

static bool world_water(void *ctx, const char *idem, const char *phone, int64_t user_id, const struct water_quote *q,
                        struct payment *p, char *why, size_t whysz)
{
    return water_start_mpesa(ctx, "sms", idem, NULL, phone, user_id, q, p, why, whysz);
}

static bool world_opt_out(void *ctx, const char *phone, bool out)
{
    struct app *a = ctx;
    return store_sms_set_opt_out(a->store, phone, out) == ST_OK;
}

static int64_t world_idle_replies(void *ctx, const char *phone, int64_t since)
{
    struct app *a = ctx;
    int64_t n = store_sms_inbound_count(a->store, phone, "unknown", since);
    int64_t m = store_sms_inbound_count(a->store, phone, "unregistered", since);
    return n < 0 || m < 0 ? -1 : n + m;
}

/* Queues the answer and closes the inbound SMS, in one transaction. */
static bool answer(struct app *a, const struct sms_inbound *in, const struct text_answer *t)
{
    if (t->quiet)
        return store_sms_inbound_finish(a->store, in->id, "done", t->outcome,
                                        "no reply: the sender's limit of replies to unknown texts") == ST_OK;
    if (store_begin(a->store) != ST_OK)
        return false;
    bool ok = outbox_queue(a, in->phone, t->reply, "answer", t->payment_id) == ST_OK &&
              store_sms_inbound_finish(a->store, in->id, "done", t->outcome, "") == ST_OK &&
              store_commit(a->store) == ST_OK;
    if (!ok)
        store_rollback(a->store);
    else
        app_wake(a, WORK_OUTBOX);
    return ok;
}

static void later(struct app *a, const struct sms_inbound *in, const char *why)
{
    char masked[20];
    int64_t attempts = in->attempts + 1;
    if (attempts >= INBOUND_MAX_ATTEMPTS) {
        store_sms_inbound_finish(a->store, in->id, "failed", "", why);
        log_error("sms.inbound_failed", "inbound=%lld phone=%s error=\"%s\"", (long long)in->id,
                  log_phone(in->phone, masked), why);
        return;
    }
    store_sms_inbound_later(a->store, in->id, attempts,
                            now_ms() + backoff_ms(a->cfg.retry_base_ms, attempts, INBOUND_BACKOFF_CAP_MS), why);
    log_warn("sms.inbound_retry", "inbound=%lld attempt=%lld error=\"%s\"", (long long)in->id,
             (long long)attempts, why);
}

static void handle(struct app *a, const struct text_commands *cmds, const struct sms_inbound *in)
{
    char masked[20];
    log_phone(in->phone[0] ? in->phone : in->raw_from, masked);
    if (!in->phone[0]) {
        store_sms_inbound_finish(a->store, in->id, "done", "ignored", "sender is not a Kenyan mobile number");
        log_warn("sms.inbound_ignored", "inbound=%lld from=%s reason=not_kenyan_mobile", (long long)in->id, masked);
        return;
    }
    if (!cmds) {
        store_sms_inbound_finish(a->store, in->id, "done", "ignored", "texting commands are off (no sms.yaml)");
        log_warn("sms.inbound_ignored", "inbound=%lld phone=%s reason=no_commands", (long long)in->id, masked);
        return;
    }
    const struct text_world w = {
        .ctx = a, .caller = world_caller, .meter_status = world_meter_status, .buy = world_buy,
        .last_token = world_last_token, .water = world_water, .opt_out = world_opt_out,
        .idle_replies = world_idle_replies,
    };
    struct text_answer *t = malloc(sizeof *t);
    if (!t) {
        later(a, in, "out of memory");
        return;
    }
    text_answer_for(&w, &a->cfg, cmds, in, t);
    if (t->retry) {
        later(a, in, "store unavailable");
    } else if (!answer(a, in, t)) {
        later(a, in, "could not queue the answer");
    } else {
        /* never the text: people text PINs by mistake */
        log_info("sms.answered", "inbound=%lld phone=%s command=%s outcome=%s lang=%s", (long long)in->id, masked,
                 t->command ? t->command : "-", t->outcome ? t->outcome : "-", lang_code(t->lang));
    }
    free(t);
}

int text_work(struct app *a)
{
    static __thread struct sms_inbound due[INBOUND_BATCH]; /* 8 KiB: not on the stack */
    int n = store_sms_inbound_due(a->store, now_ms(), due, INBOUND_BATCH);
    if (n <= 0)
        return 0;
    struct text_commands *cmds = text_commands_current(a);
    for (int i = 0; i < n && !atomic_load(&a->stopping); i++)
        handle(a, cmds, &due[i]);
    text_commands_unref(cmds);
    return n;
}
