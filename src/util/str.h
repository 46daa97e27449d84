/* str: small string and number helpers with explicit bounds (no strcpy,
 * atoi or sprintf in this tree). All pure and thread-safe. */
#ifndef LIPA_STR_H
#define LIPA_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Copies at most dstsz-1 bytes; returns false when src was truncated. */
bool str_copy(char *dst, size_t dstsz, const char *src);
/* Whole string is a decimal integer in [min, max]; no sign games, no spaces. */
bool str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);
bool str_is_digits(const char *s);
/* Case-insensitive ASCII comparison. */
bool str_ieq(const char *a, const char *b);
/* Whole-string trim of ASCII blanks, in place; returns s. */
char *str_trim(char *s);
/* UTC ISO-8601 with milliseconds: 2024-02-01T12:00:00.000Z (out >= 25). */
void str_iso_time(int64_t ms, char out[32]);
int64_t now_ms(void);
int64_t now_s(void);
/* Retry delay before attempt n+1 (ms): base doubling per attempt, capped. */
int64_t backoff_ms(int64_t base, int64_t attempts, int64_t cap);
/* Every byte valid UTF-8 and no control characters but \n. */
bool str_is_clean_utf8(const char *s, size_t n);

#endif
