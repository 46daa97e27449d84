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

/* Appends those metrics in Prometheus' text format (HELP, TYPE, samples). */
void metrics_render(struct buf *out);

#endif
