/* Structured logging: one line per event, logfmt key=value fields, to stderr.
 * Under systemd (JOURNAL_STREAM set) each line starts with a <N> priority
 * prefix so journald keeps the level; otherwise it starts with a UTC time.
 *   log_info("store", "leader elected", "term=%llu id=%u", term, id);
 * prints  ts=... level=info module=store msg="leader elected" term=5 id=1
 * Each event is written with one write(2), so lines from several processes
 * sharing stderr do not interleave. */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

#include <stdio.h>

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

/* Events below 'level' are dropped. The initial level comes from
 * STRATA_LOG_LEVEL (debug|info|warn|error), default info. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn" or "error" into '*level'; 0 or LIB_EINVAL. */
int log_level_parse(const char *name, enum log_level *level);

/* Sends events to file descriptor 'fd' instead of stderr (tests, daemons
 * that redirect); -1 restores stderr. */
void log_set_fd(int fd);

/* Logs 'msg' (quoted and escaped) for 'module', followed by the key=value
 * fields produced by printf-style 'fields' (may be NULL). Values with spaces
 * must be quoted by the caller, or formatted with log_quote(). */
void log_event(enum log_level level, const char *module, const char *msg,
               const char *fields, ...) __attribute__((format(printf, 4, 5)));

/* Writes 'value' into 'out' ('size' bytes) as a logfmt quoted string,
 * escaping quotes, backslashes and control bytes; truncates safely.
 * Returns 'out'. */
const char *log_quote(char *out, size_t size, const char *value);

#define log_debug(mod, msg, ...) \
    do { if (log_get_level() <= LOG_LEVEL_DEBUG) log_event(LOG_LEVEL_DEBUG, mod, msg, __VA_ARGS__); } while (0)
#define log_info(mod, msg, ...) log_event(LOG_LEVEL_INFO, mod, msg, __VA_ARGS__)
#define log_warn(mod, msg, ...) log_event(LOG_LEVEL_WARN, mod, msg, __VA_ARGS__)
#define log_error(mod, msg, ...) log_event(LOG_LEVEL_ERROR, mod, msg, __VA_ARGS__)

#endif
