/* httpc: libcurl easy-handle wrapper; see httpc.h. */
#include "util/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

void httpc_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* One easy handle per thread, kept between calls so connections (and TLS
 * sessions) to a provider are reused instead of opened per call. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;

static void handle_free(void *h) { curl_easy_cleanup(h); }
static void handle_key_init(void) { pthread_key_create(&handle_key, handle_free); }

static CURL *thread_handle(void)
{
    pthread_once(&handle_once, handle_key_init);
    CURL *c = pthread_getspecific(handle_key);
    if (c) {
        curl_easy_reset(c); /* options go, connections stay */
        return c;
    }
    c = curl_easy_init();
    if (c)
        pthread_setspecific(handle_key, c);
    return c;
}

void httpc_thread_done(void)
{
    pthread_once(&handle_once, handle_key_init);
    CURL *c = pthread_getspecific(handle_key);
    if (c) {
        curl_easy_cleanup(c);
        pthread_setspecific(handle_key, NULL);
    }
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    return buf_append(b, p, sz * n) ? sz * n : 0;
}

bool httpc_do(const struct httpc_req *req, struct httpc_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    buf_init(&resp->body, 1u << 20);
    CURL *c = thread_handle();
    if (!c) {
        snprintf(resp->error, sizeof resp->error, "curl init failed");
        return false;
    }
    struct curl_slist *hl = NULL;
    for (const char *const *h = req->headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
    } else if (!strcmp(req->method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        const char *ct = NULL;
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);
    } else {
        snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(rc));
        resp->status = 0;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    return rc == CURLE_OK;
}

void httpc_resp_free(struct httpc_resp *resp) { buf_free(&resp->body); }
