/* util/metrics: the counters and latency histograms lipad's GET /metrics
 * shows with labels (app/health.c prints them with the rest). Process-wide
 * atomics with a fixed set of label values, so counting takes no lock and
 * allocates nothing: a USSD hop pays two clock reads and two atomic adds. The
 * providers count here too (they know no struct app), which is why these
 * are globals while everything else lipad keeps lives in struct app. */
#ifndef LIPA_UTIL_METRICS_H
#define LIPA_UTIL_METRICS_H

#include "util/buf.h"

#include <stdint.h>

enum metric_provider { MP_DARAJA, MP_AFRICASTALKING, MP_TUYA, MP_PAYSTACK, MP_COUNT };

/* What a provider said, the same three ways every adapter sorts answers:
 * done, try again later, refused for good (an STK push: accepted, retry,
 * refused). */
enum metric_outcome { MO_OK, MO_RETRY, MO_REFUSED, MO_COUNT };

/* Microseconds of a monotonic clock: where a timed span starts. */
int64_t metrics_clock_us(void);

/* One provider operation as its adapter logs it (daraja_push, sms_send,
 * meter_call, paystack_*), however many HTTP requests it took. */
void metrics_provider_call(enum metric_provider p, enum metric_outcome o);
/* One HTTP request to provider p that started at since_us (metrics_clock_us). */
void metrics_provider_time(enum metric_provider p, int64_t since_us);
/* One STK push's outcome (MO_OK: accepted). */
void metrics_push(enum metric_outcome o);
/* A purchase stored as finished in status ("completed", "failed",
 * "cancelled", "timeout"; any other is not counted). */
void metrics_purchase_finished(const char *status);
/* A USSD hop answered, entered at since_us. */
void metrics_hop_time(int64_t since_us);

/* What an M-Pesa callback came to, each counted once: refused at arrival
 * (wrong secret, unreadable body), or, once applied, what it said about an
 * open purchase (by its ResultCode), or a duplicate (the purchase was
 * already settled). */
enum metric_callback { MC_SUCCESS, MC_CANCELLED, MC_FAILED, MC_TIMEOUT, MC_DUPLICATE, MC_REJECTED, MC_COUNT };
void metrics_callback(enum metric_callback c);
/* A callback applied to an open purchase, by the purchase status it
 * gives ("completed", "cancelled", "failed", "timeout"). */
void metrics_callback_status(const char *status);
/* What a top-up attempt or a check of the meter cloud's log came to. */
enum metric_topup { MT_DONE, MT_RETRY, MT_UNSURE, MT_FAILED, MT_COUNT };
void metrics_topup(enum metric_topup t);
/* A first final delivery report applied: "delivered" or "failed" (any
 * other text is not counted). */
void metrics_sms_report(const char *outcome);
/* The payer's token or code SMS accepted by the SMS provider, callback_ms
 * (wall clock, ms) being when the M-Pesa callback that settled its
 * purchase arrived. */
void metrics_callback_to_sms(int64_t callback_ms, int64_t now_ms);

/* ---- the USSD funnel ----
 * A counter per screen of the menus and event. Slots are handed out when
 * a menu set loads (metrics_screen_slot: a lock, at load only) and never
 * taken back, so a reloaded set finds its screens' counters where they
 * were; counting is one relaxed atomic add. At most METRICS_SCREENS_MAX
 * screens over the process' life (a screen past that is not counted). */
#define METRICS_SCREENS_MAX 1024
enum metric_screen_event { MS_ENTERED, MS_COMPLETED, MS_ABANDONED, MS_TIMED_OUT, MS_COUNT };
/* The slot of screen in menu (a menu file's name without .yaml; a
 * character other than A-Z a-z 0-9 _ - . is shown as _), or -1 when the
 * table is full. Thread-safe. */
int metrics_screen_slot(const char *menu, const char *screen);
/* Counts e on slot (nothing for a slot < 0). */
void metrics_screen(int slot, enum metric_screen_event e);

/* Appends those metrics in Prometheus' text format (HELP, TYPE, samples). */
void metrics_render(struct buf *out);

#endif
