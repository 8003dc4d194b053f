/* Implementation of the structured logger in log.h. */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"

#define LOG_LINE_MAX 4096

static int log_level_cur = -1;
static int log_fd = -1;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};
/* syslog priorities for journald's <N> prefix. */
static const int log_level_prio[] = {7, 6, 4, 3};

int log_level_parse(const char *name, enum log_level *level)
{
    for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_ERROR; i++) {
        if (name && strcmp(name, log_level_names[i]) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    return LIB_EINVAL;
}

enum log_level log_get_level(void)
{
    if (log_level_cur < 0) {
        enum log_level level = LOG_LEVEL_INFO;
        if (log_level_parse(getenv("STRATA_LOG_LEVEL"), &level) != 0) {
            level = LOG_LEVEL_INFO;
        }
        log_level_cur = (int)level;
    }
    return (enum log_level)log_level_cur;
}

void log_set_level(enum log_level level)
{
    log_level_cur = (int)level;
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

const char *log_quote(char *out, size_t size, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    if (size < 3) {
        if (size > 0) {
            out[0] = '\0';
        }
        return out;
    }
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)value; p && *p; p++) {
        char esc[5];
        size_t len = 0;
        if (*p == '"' || *p == '\\') {
            esc[len++] = '\\';
            esc[len++] = (char)*p;
        } else if (*p == '\n') {
            esc[len++] = '\\';
            esc[len++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[len++] = '\\';
            esc[len++] = 'x';
            esc[len++] = hex[*p >> 4];
            esc[len++] = hex[*p & 0xf];
        } else {
            esc[len++] = (char)*p;
        }
        if (n + len + 2 > size) {
            break;
        }
        memcpy(out + n, esc, len);
        n += len;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void log_event(enum log_level level, const char *module, const char *msg,
               const char *fields, ...)
{
    char line[LOG_LINE_MAX];
    char quoted[1024];
    size_t n = 0;
    int rc;

    if (level < log_get_level() || level > LOG_LEVEL_ERROR) {
        return;
    }
    if (getenv("JOURNAL_STREAM")) {
        rc = snprintf(line, sizeof line, "<%d>", log_level_prio[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        rc = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    }
    n = rc > 0 ? (size_t)rc : 0;
    rc = snprintf(line + n, sizeof line - n, "level=%s module=%s msg=%s",
                  log_level_names[level], module ? module : "-",
                  log_quote(quoted, sizeof quoted, msg ? msg : ""));
    if (rc > 0) {
        n += (size_t)rc;
    }
    if (fields && *fields && n < sizeof line - 1) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fields);
        rc = vsnprintf(line + n, sizeof line - n, fields, ap);
        va_end(ap);
        if (rc > 0) {
            n += (size_t)rc;
        }
    }
    if (n > sizeof line - 2) {
        n = sizeof line - 2;
    }
    line[n++] = '\n';

    int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
    int saved = errno;
    const char *p = line;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    errno = saved;
}
