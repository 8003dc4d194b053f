/* The local control socket of the control-role daemons (strata-bgpd,
 * strata-control): a unix stream socket, mode 0600; a client writes one
 * command line, the daemon answers one JSON document and closes. And the
 * matching client used by `<daemon> query SOCKET COMMAND...`. */
#ifndef STRATA_ROUTING_CTL_SOCK_H
#define STRATA_ROUTING_CTL_SOCK_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "lib/err.h"

/* Answers command 'cmd' with argument text 'arg' (NULL when none): a JSON
 * document (consumed), or NULL for "not found or out of memory". */
typedef json_t *ctl_sock_fn(void *data, const char *cmd, const char *arg);

struct ctl_sock;

/* Listens on 'path' (replacing a stale socket) for command lines of at most
 * 'line_max' bytes. Negative libuv codes on failure. */
int ctl_sock_listen(uv_loop_t *loop, const char *path, size_t line_max, ctl_sock_fn *fn, void *data,
                    struct ctl_sock **out) STRATA_WARN_UNUSED;
/* Stops listening; freed once libuv has closed the handle. */
void ctl_sock_close(struct ctl_sock *s);

/* Blocking client: sends 'line' (no newline; it is added) to the daemon at
 * 'path' and reads its answer, at most 'answer_max' bytes, within
 * 'timeout_ms' in all. On success '*answer' is the NUL-terminated answer
 * (malloc'd, the caller frees it; the trailing newline removed). Errors:
 * UV_ENOENT or UV_ECONNREFUSED (nobody listens at 'path'), UV_ETIMEDOUT,
 * UV_E2BIG (answer too long), UV_EINVAL (path too long, newline in 'line'),
 * UV_ENOMEM, other negative errno values. */
int ctl_sock_request(const char *path, const char *line, unsigned timeout_ms, size_t answer_max,
                     char **answer) STRATA_WARN_UNUSED;

/* Client: sends argv joined by spaces as one line to 'path' and copies the
 * answer to stdout. Returns a process exit code; 'prog' prefixes errors. */
int ctl_sock_query(const char *prog, const char *path, int argc, char **argv);

#endif
