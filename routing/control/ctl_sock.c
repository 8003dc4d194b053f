/* The control-role daemons' local control socket: see ctl_sock.h. */
#include "routing/control/ctl_sock.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/clock.h"

struct ctl_sock {
    uv_pipe_t pipe;
    size_t line_max;
    ctl_sock_fn *fn;
    void *data;
};

struct ctl_conn {
    uv_pipe_t pipe;
    struct ctl_sock *sock;
    size_t len;
    bool answered;
    char buf[]; /* line_max + 1 */
};

static void conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void conn_written(uv_write_t *w, int status)
{
    (void)status;
    struct ctl_conn *c = w->data;
    free(w);
    uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

/* Sends 'doc' (consumed; NULL answers an error) and closes. */
static void conn_answer(struct ctl_conn *c, json_t *doc)
{
    c->answered = true;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : strdup("{\"error\":\"not found or out of memory\"}");
    json_decref(doc);
    size_t n = text ? strlen(text) : 0;
    uv_write_t *w = text ? malloc(sizeof *w + n + 1) : NULL;
    if (!w) {
        free(text);
        uv_close((uv_handle_t *)&c->pipe, conn_closed);
        return;
    }
    char *out = (char *)(w + 1);
    memcpy(out, text, n);
    out[n] = '\n';
    free(text);
    w->data = c;
    uv_buf_t b = uv_buf_init(out, (unsigned)n + 1);
    if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, conn_written) != 0) {
        free(w);
        uv_close((uv_handle_t *)&c->pipe, conn_closed);
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct ctl_conn *c = h->data;
    b->base = c->buf + c->len;
    b->len = c->sock->line_max - c->len;
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct ctl_conn *c = s->data;
    if (c->answered) {
        return;
    }
    if (n < 0) {
        uv_close((uv_handle_t *)&c->pipe, conn_closed);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *nl = strchr(c->buf, '\n');
    if (nl) {
        *nl = '\0';
        uv_read_stop(s);
        char *arg = strchr(c->buf, ' ');
        if (arg) {
            *arg++ = '\0';
        }
        conn_answer(c, c->sock->fn(c->sock->data, c->buf, arg));
    } else if (c->len >= c->sock->line_max) {
        uv_read_stop(s);
        conn_answer(c, json_pack("{s:s}", "error", "command too long"));
    }
}

static void sock_accept(uv_stream_t *server, int status)
{
    struct ctl_sock *s = server->data;
    if (status != 0) {
        return;
    }
    struct ctl_conn *c = calloc(1, sizeof *c + s->line_max + 1);
    if (!c) {
        return;
    }
    c->sock = s;
    uv_pipe_init(server->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
        uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read) != 0) {
        uv_close((uv_handle_t *)&c->pipe, conn_closed);
    }
}

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

int ctl_sock_listen(uv_loop_t *loop, const char *path, size_t line_max, ctl_sock_fn *fn, void *data,
                    struct ctl_sock **out)
{
    struct ctl_sock *s = calloc(1, sizeof *s);
    if (!s) {
        return UV_ENOMEM;
    }
    s->line_max = line_max;
    s->fn = fn;
    s->data = data;
    unlink(path);
    uv_pipe_init(loop, &s->pipe, 0);
    s->pipe.data = s;
    int rc = uv_pipe_bind(&s->pipe, path);
    if (rc == 0) {
        rc = chmod(path, 0600) == 0 ? 0 : UV_EPERM;
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&s->pipe, 16, sock_accept);
    }
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->pipe, sock_closed);
        return rc;
    }
    *out = s;
    return 0;
}

void ctl_sock_close(struct ctl_sock *s)
{
    if (s) {
        uv_close((uv_handle_t *)&s->pipe, sock_closed);
    }
}

/* Waits until 'fd' is ready for 'events' or 'deadline' passes. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (now >= deadline) {
            return UV_ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)(deadline - now));
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

int ctl_sock_request(const char *path, const char *line, unsigned timeout_ms, size_t answer_max, char **answer)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(line);
    if (strlen(path) >= sizeof sa.sun_path || strchr(line, '\n')) {
        return UV_EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int rc = 0;
    size_t cap = len + 1 > 4096 ? len + 1 : 4096;
    char *out = malloc(cap);
    if (!out) {
        rc = UV_ENOMEM;
        goto out_fd;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        /* a unix socket whose backlog is full says EAGAIN: wait once */
        rc = errno == EAGAIN ? wait_fd(fd, POLLOUT, deadline) : -errno;
        if (rc == 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EISCONN) {
            rc = -errno;
        }
        if (rc != 0) {
            goto out_buf;
        }
    }
    memcpy(out, line, len);
    out[len] = '\n';
    for (size_t done = 0; done < len + 1;) {
        ssize_t n = send(fd, out + done, len + 1 - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            rc = -errno;
            goto out_buf;
        } else if ((rc = wait_fd(fd, POLLOUT, deadline)) != 0) {
            goto out_buf;
        }
    }
    size_t got = 0;
    for (;;) {
        if (got > answer_max) {
            rc = UV_E2BIG;
            goto out_buf;
        }
        if (got + 1 >= cap) {
            size_t ncap = cap * 2 > answer_max + 2 ? answer_max + 2 : cap * 2;
            char *grown = realloc(out, ncap);
            if (!grown) {
                rc = UV_ENOMEM;
                goto out_buf;
            }
            out = grown;
            cap = ncap;
        }
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            break;
        } else if (errno != EAGAIN && errno != EINTR) {
            rc = -errno;
            goto out_buf;
        } else if ((rc = wait_fd(fd, POLLIN, deadline)) != 0) {
            goto out_buf;
        }
    }
    if (got > answer_max) {
        rc = UV_E2BIG;
        goto out_buf;
    }
    while (got > 0 && out[got - 1] == '\n') {
        got--;
    }
    out[got] = '\0';
    *answer = out;
    close(fd);
    return 0;
out_buf:
    free(out);
out_fd:
    close(fd);
    return rc;
}

int ctl_sock_query(const char *prog, const char *path, int argc, char **argv)
{
    static char line[65536];
    size_t len = 0;
    for (int i = 0; i < argc; i++) {
        int n = snprintf(line + len, sizeof line - len, "%s%s", i ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof line - len - 1) {
            fprintf(stderr, "%s: command too long\n", prog);
            return 2;
        }
        len += (size_t)n;
    }
    char *answer = NULL;
    int rc = ctl_sock_request(path, line, 60000, (size_t)256 << 20, &answer);
    if (rc == UV_EINVAL) {
        fprintf(stderr, "%s: bad socket path or command\n", prog);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, uv_strerror(rc));
        return 1;
    }
    int status = printf("%s\n", answer) < 0 ? 1 : 0;
    free(answer);
    return status;
}
