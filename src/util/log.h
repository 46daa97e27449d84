/* log: one line per event, `ts level event key=value ...`, to stderr.
 * Callers never pass a PIN, OTP, token, key or secret; phone numbers go
 * through log_phone() which masks the middle digits.
 *
 * Values cannot forge fields or lines: the logger formats each conversion
 * itself, and every %s (and %c) value is escaped. Inside quotes the format
 * wrote (`reason=\"%s\"`) a value's `"`, `\` and control characters are
 * escaped (\", \\, \n, \r, \t, \xHH); a bare value holding a space, `=`,
 * `"`, `\` or a control character (or nothing) is quoted and escaped the
 * same way. A phone number inside any %s value (+254 or 254 then 7 or 1
 * and 8 digits, 07/01 and 8 digits, or + and 10-15 digits, as a whole run
 * of digits) is masked as log_phone() does, so a request value that
 * carries one cannot put it in the log whole. Thread-safe: each line
 * is formatted into a local buffer, then either written with one write(2)
 * or, after log_start_async(), appended to an in-memory ring that a log
 * thread writes out in batches, so request threads never wait on the disk.
 * A full ring drops lines and says how many in its next line. */
#ifndef LIPA_LOG_H
#define LIPA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
/* Starts the log thread; log_stop_async writes what is left and stops it. */
bool log_start_async(void);
void log_stop_async(void);
/* fmt holds the key=value pairs after the event name. */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The key=value part of a line as log_event writes it, into out (n
 * bytes, NUL-terminated, cut to fit); returns its length. For the tests. */
size_t log_vformat(char *out, size_t n, const char *fmt, va_list ap);
/* Masks a phone number for logs into out (>= 20 bytes): +2547****5678. */
const char *log_phone(const char *phone, char out[20]);
/* Copies text into out (n bytes, cut to fit) with every phone number in
 * it masked as the logger masks values: for a provider's free text shown
 * where no field can go through log_phone (the health report). */
const char *log_mask_phones(const char *text, char *out, size_t n);

#define log_info(ev, ...) log_event(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_ERROR, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_event(LOG_DEBUG, ev, __VA_ARGS__)

#endif
