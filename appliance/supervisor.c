/* The stratad supervisor (supervisor.h): node config parsing, socket
 * binding, role processes and their restarts. Single-threaded: one poll()
 * loop over a signalfd, woken by SIGCHLD, SIGTERM, SIGINT and SIGHUP, with a
 * timeout for the next scheduled restart. */
#include "appliance/supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "appliance/pkiset.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/tls.h"

STRATA_ERR_DEFINE(sup, SUP_ERRORS)

#define SUP_BACKOFF_MIN_MS 100
#define SUP_BACKOFF_MAX_MS 10000
#define SUP_STABLE_MS 10000 /* a child up this long resets its backoff */
#define SUP_DEFAULT_GRACE_MS 20000
#define SUP_ARGV_MAX 96

/* ---- node config ---- */

static int cfg_fail(char *errmsg, size_t size, const char *field, const char *why)
{
    snprintf(errmsg, size, "%s: %s", field, why);
    return SUP_ECONFIG;
}

static int cfg_string(json_t *doc, const char *key, bool required, char *out, size_t size,
                      char *errmsg, size_t errmsg_size)
{
    json_t *v = json_object_get(doc, key);
    if (!v) {
        return required ? cfg_fail(errmsg, errmsg_size, key, "missing") : 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= size) {
        return cfg_fail(errmsg, errmsg_size, key, "must be a non-empty string of reasonable length");
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int cfg_port(json_t *doc, const char *key, bool required, uint16_t *out, char *errmsg,
                    size_t errmsg_size)
{
    json_t *v = json_object_get(doc, key);
    if (!v) {
        return required ? cfg_fail(errmsg, errmsg_size, key, "missing") : 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65534) {
        return cfg_fail(errmsg, errmsg_size, key, "must be a port number 1..65534");
    }
    *out = (uint16_t)json_integer_value(v);
    return 0;
}

int sup_config_parse(const char *text, struct sup_config *cfg, char *errmsg, size_t errmsg_size)
{
    static const char *const known[] = {"id", "name", "address", "raft_port", "api_port", "bgp_port",
                                        "xmpp_port", "data_dir", "pki_dir", "members", "roles", "user",
                                        "config_workers", "bootstrap_token_file", "store_args"};
    json_error_t jerr;
    int rc;
    memset(cfg, 0, sizeof *cfg);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(errmsg, errmsg_size, "line %d: %s", jerr.line, jerr.text);
        return SUP_ECONFIG;
    }
    if (!json_is_object(doc)) {
        rc = cfg_fail(errmsg, errmsg_size, "(document)", "must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            ok = ok || strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            rc = cfg_fail(errmsg, errmsg_size, key, "unknown setting");
            goto out;
        }
    }
    v = json_object_get(doc, "id");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        rc = cfg_fail(errmsg, errmsg_size, "id", "must be a positive integer");
        goto out;
    }
    cfg->id = (uint64_t)json_integer_value(v);
    if ((rc = cfg_string(doc, "name", true, cfg->name, sizeof cfg->name, errmsg, errmsg_size)) ||
        (rc = cfg_string(doc, "address", true, cfg->address, sizeof cfg->address, errmsg, errmsg_size)) ||
        (rc = cfg_port(doc, "raft_port", true, &cfg->raft_port, errmsg, errmsg_size)) ||
        (rc = cfg_port(doc, "api_port", false, &cfg->api_port, errmsg, errmsg_size)) ||
        (rc = cfg_port(doc, "bgp_port", false, &cfg->bgp_port, errmsg, errmsg_size)) ||
        (rc = cfg_port(doc, "xmpp_port", false, &cfg->xmpp_port, errmsg, errmsg_size)) ||
        (rc = cfg_string(doc, "data_dir", true, cfg->data_dir, sizeof cfg->data_dir, errmsg, errmsg_size)) ||
        (rc = cfg_string(doc, "pki_dir", true, cfg->pki_dir, sizeof cfg->pki_dir, errmsg, errmsg_size)) ||
        (rc = cfg_string(doc, "user", false, cfg->user, sizeof cfg->user, errmsg, errmsg_size)) ||
        (rc = cfg_string(doc, "bootstrap_token_file", false, cfg->bootstrap_token_file,
                         sizeof cfg->bootstrap_token_file, errmsg, errmsg_size))) {
        goto out;
    }
    for (const char *p = cfg->name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.')) {
            rc = cfg_fail(errmsg, errmsg_size, "name", "letters, digits, '-', '_' and '.' only");
            goto out;
        }
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, cfg->address, &a4) != 1 && inet_pton(AF_INET6, cfg->address, &a6) != 1) {
        rc = cfg_fail(errmsg, errmsg_size, "address", "must be an IPv4 or IPv6 literal");
        goto out;
    }
    if (!cfg->bootstrap_token_file[0]) {
        snprintf(cfg->bootstrap_token_file, sizeof cfg->bootstrap_token_file, "%.900s/bootstrap-token",
                 cfg->data_dir);
    }
    v = json_object_get(doc, "config_workers");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 256)) {
        rc = cfg_fail(errmsg, errmsg_size, "config_workers", "must be an integer 1..256");
        goto out;
    }
    cfg->config_workers = v ? (unsigned)json_integer_value(v) : 0;

    size_t i;
    json_t *m;
    v = json_object_get(doc, "members");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > SUP_MEMBERS_MAX) {
        rc = cfg_fail(errmsg, errmsg_size, "members", "must be a list of 1..16 \"ID=NAME@HOST:PORT\"");
        goto out;
    }
    json_array_foreach(v, i, m) {
        const char *s = json_string_value(m);
        char *end = NULL;
        if (!s || strlen(s) >= sizeof cfg->members[0] || strtoull(s, &end, 10) == 0 || *end != '=' ||
            !strchr(end, '@') || !strrchr(end, ':')) {
            rc = cfg_fail(errmsg, errmsg_size, "members", "each must be \"ID=NAME@HOST:PORT\"");
            goto out;
        }
        snprintf(cfg->members[cfg->members_len++], sizeof cfg->members[0], "%s", s);
    }
    v = json_object_get(doc, "roles");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        rc = cfg_fail(errmsg, errmsg_size, "roles", "must be a non-empty list (\"store\", \"config\")");
        goto out;
    }
    json_array_foreach(v, i, m) {
        const char *s = json_string_value(m);
        if (s && strcmp(s, "store") == 0) {
            cfg->roles[SUP_ROLE_STORE] = true;
        } else if (s && strcmp(s, "config") == 0) {
            cfg->roles[SUP_ROLE_CONFIG] = true;
        } else if (s && strcmp(s, "control") == 0) {
            cfg->roles[SUP_ROLE_CONTROL] = true;
        } else {
            rc = cfg_fail(errmsg, errmsg_size, "roles", "known roles are \"store\", \"config\" and \"control\"");
            goto out;
        }
    }
    if (!cfg->bgp_port) {
        cfg->bgp_port = SUP_DEFAULT_BGP_PORT;
    }
    if (!cfg->xmpp_port) {
        cfg->xmpp_port = SUP_DEFAULT_XMPP_PORT;
    }
    if (cfg->roles[SUP_ROLE_CONTROL]) {
        if (!cfg->roles[SUP_ROLE_STORE]) {
            rc = cfg_fail(errmsg, errmsg_size, "roles", "the control role needs the store role on its node");
            goto out;
        }
        const uint16_t taken[] = {cfg->raft_port, (uint16_t)(cfg->raft_port + 1),
                                  cfg->roles[SUP_ROLE_CONFIG] ? cfg->api_port : 0};
        for (size_t k = 0; k < sizeof taken / sizeof taken[0]; k++) {
            if (taken[k] && (cfg->bgp_port == taken[k] || cfg->xmpp_port == taken[k])) {
                rc = cfg_fail(errmsg, errmsg_size, cfg->bgp_port == taken[k] ? "bgp_port" : "xmpp_port",
                              "collides with raft_port, raft_port + 1 or api_port");
                goto out;
            }
        }
        if (cfg->bgp_port == cfg->xmpp_port) {
            rc = cfg_fail(errmsg, errmsg_size, "xmpp_port", "collides with bgp_port");
            goto out;
        }
    }
    if (cfg->roles[SUP_ROLE_CONFIG] && !cfg->api_port) {
        rc = cfg_fail(errmsg, errmsg_size, "api_port", "required by the config role");
        goto out;
    }
    if (cfg->roles[SUP_ROLE_CONFIG] && !cfg->roles[SUP_ROLE_STORE]) {
        rc = cfg_fail(errmsg, errmsg_size, "roles", "the config role needs the store role on its node");
        goto out;
    }
    if (cfg->api_port && (cfg->api_port == cfg->raft_port || cfg->api_port == cfg->raft_port + 1)) {
        rc = cfg_fail(errmsg, errmsg_size, "api_port", "collides with raft_port or raft_port + 1");
        goto out;
    }
    v = json_object_get(doc, "store_args");
    if (v && (!json_is_array(v) || json_array_size(v) > SUP_STORE_ARGS_MAX)) {
        rc = cfg_fail(errmsg, errmsg_size, "store_args", "must be a list of at most 16 strings");
        goto out;
    }
    json_array_foreach(v, i, m) {
        const char *s = json_string_value(m);
        if (!s || strlen(s) >= sizeof cfg->store_args[0]) {
            rc = cfg_fail(errmsg, errmsg_size, "store_args", "each must be a string");
            goto out;
        }
        snprintf(cfg->store_args[cfg->store_args_len++], sizeof cfg->store_args[0], "%s", s);
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

int sup_config_load(const char *path, struct sup_config *cfg, char *errmsg, size_t errmsg_size)
{
    char text[65536];
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(errmsg, errmsg_size, "%s: %s", path, strerror(errno));
        return SUP_ECONFIG;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        snprintf(errmsg, errmsg_size, "%s: larger than 64 KiB", path);
        return SUP_ECONFIG;
    }
    text[n] = '\0';
    char inner[512];
    int rc = sup_config_parse(text, cfg, inner, sizeof inner);
    if (rc != 0) {
        snprintf(errmsg, errmsg_size, "%s: %s", path, inner);
    }
    return rc;
}

/* ---- role command lines ---- */

struct argv_builder {
    char **argv;
    size_t len, max;
    char *store;
    size_t used, size;
    bool overflow;
};

static void arg_add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void arg_add(struct argv_builder *b, const char *fmt, ...)
{
    va_list ap;
    if (b->overflow || b->len + 1 >= b->max) {
        b->overflow = true;
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(b->store + b->used, b->size - b->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->size - b->used) {
        b->overflow = true;
        return;
    }
    b->argv[b->len++] = b->store + b->used;
    b->argv[b->len] = NULL;
    b->used += (size_t)n + 1;
}

/* What the config and control roles share: the local store, the node's
 * credentials, and the control role's socket ('ctl_flag' names it). */
static void arg_add_local(struct argv_builder *b, const struct sup_config *cfg, const char *ctl_flag)
{
    arg_add(b, "--store");
    arg_add(b, "unix:%s/store.sock", cfg->data_dir);
    arg_add(b, "--pki");
    arg_add(b, "%s", cfg->pki_dir);
    arg_add(b, "--cert");
    arg_add(b, "%s", cfg->name);
    arg_add(b, "%s", ctl_flag);
    arg_add(b, "%s/control.sock", cfg->data_dir);
}

int sup_role_argv(const struct sup_config *cfg, const struct sup_options *opts, enum sup_role role,
                  const int *fds, char **argv, size_t max, char *store, size_t store_size)
{
    struct argv_builder b = {.argv = argv, .max = max, .store = store, .size = store_size};
    if (max < 2) {
        return LIB_EINVAL;
    }
    argv[0] = NULL;
    arg_add(&b, "%s", opts->self_exe);
    switch (role) {
    case SUP_ROLE_STORE:
        arg_add(&b, "store");
        arg_add(&b, "--id");
        arg_add(&b, "%llu", (unsigned long long)cfg->id);
        arg_add(&b, "--name");
        arg_add(&b, "%s", cfg->name);
        arg_add(&b, "--raft");
        arg_add(&b, strchr(cfg->address, ':') ? "[%s]:%u" : "%s:%u", cfg->address, cfg->raft_port);
        arg_add(&b, "--dir");
        arg_add(&b, "%s/store", cfg->data_dir);
        arg_add(&b, "--pki");
        arg_add(&b, "%s", cfg->pki_dir);
        arg_add(&b, "--unix");
        arg_add(&b, "%s/store.sock", cfg->data_dir);
        arg_add(&b, "--raft-fd");
        arg_add(&b, "%d", fds[0]);
        arg_add(&b, "--client-fd");
        arg_add(&b, "%d", fds[1]);
        for (unsigned i = 0; i < cfg->members_len; i++) {
            arg_add(&b, "--member");
            arg_add(&b, "%s", cfg->members[i]);
        }
        if (opts->join) {
            arg_add(&b, "--join");
        }
        for (unsigned i = 0; i < cfg->store_args_len; i++) {
            arg_add(&b, "%s", cfg->store_args[i]);
        }
        break;
    case SUP_ROLE_CONFIG:
        arg_add(&b, "config");
        arg_add(&b, "--listen-fd");
        arg_add(&b, "%d", fds[0]);
        arg_add_local(&b, cfg, "--control-sock");
        arg_add(&b, "--bootstrap-token-file");
        arg_add(&b, "%s", cfg->bootstrap_token_file);
        if (opts->ca_key) {
            arg_add(&b, "--ca-key");
            arg_add(&b, "%s/ca.key", cfg->pki_dir);
        }
        if (cfg->config_workers) {
            arg_add(&b, "--workers");
            arg_add(&b, "%u", cfg->config_workers);
        }
        break;
    case SUP_ROLE_CONTROL:
        arg_add(&b, "control");
        arg_add(&b, "--bgp-fd");
        arg_add(&b, "%d", fds[0]);
        arg_add(&b, "--xmpp-fd");
        arg_add(&b, "%d", fds[1]);
        arg_add_local(&b, cfg, "--ctl");
        break;
    case SUP_ROLE_COUNT_:
        return LIB_EINVAL;
    }
    return b.overflow ? LIB_ETOOBIG : 0;
}

/* The one-shot child that asks the running cluster to add this node. */
static int join_argv(const struct sup_config *cfg, const struct sup_options *opts, char **argv, size_t max,
                     char *store, size_t store_size)
{
    struct argv_builder b = {.argv = argv, .max = max, .store = store, .size = store_size};
    arg_add(&b, "%s", opts->self_exe);
    arg_add(&b, "add-member");
    arg_add(&b, "--pki");
    arg_add(&b, "%s", cfg->pki_dir);
    arg_add(&b, "--cert");
    arg_add(&b, "%s", cfg->name);
    arg_add(&b, "--id");
    arg_add(&b, "%llu", (unsigned long long)cfg->id);
    arg_add(&b, "--address");
    arg_add(&b, strchr(cfg->address, ':') ? "%s@[%s]:%u" : "%s@%s:%u", cfg->name, cfg->address, cfg->raft_port);
    for (unsigned i = 0; i < cfg->members_len; i++) {
        arg_add(&b, "--via");
        arg_add(&b, "%s", strchr(cfg->members[i], '=') + 1);
    }
    return b.overflow ? LIB_ETOOBIG : 0;
}

/* ---- sockets ---- */

/* Binds and listens for a role. The socket outlives the role's restarts,
 * so its backlog (lib/tls's, 4,096) is what holds a reconnect burst while
 * the role is down: at 511, agents past it had their SYNs dropped and
 * retried a second or more later. */
static int bind_listener(const char *address, uint16_t port, const char *what, int *out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, address, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, address, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        len = sizeof *s6;
    } else {
        return SUP_ECONFIG;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        log_error("supervisor", "socket failed", "what=%s err=\"%s\"", what, strerror(errno));
        return SUP_EBIND;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, TLS_BACKLOG) != 0) {
        log_error("supervisor", "cannot listen", "what=%s address=%s port=%u err=\"%s\"", what, address, port,
                  strerror(errno));
        close(fd);
        return SUP_EBIND;
    }
    *out = fd;
    return 0;
}

/* ---- children ---- */

#define SUP_JOIN SUP_ROLE_COUNT_ /* index of the one-shot join child */
#define SUP_CHILDREN (SUP_ROLE_COUNT_ + 1)

static const char *const child_names[SUP_CHILDREN] = {"store", "config", "control", "join"};

struct child {
    bool enabled;
    pid_t pid;              /* 0 when not running */
    int fds[2];             /* listening sockets it inherits, -1 when unused */
    uint64_t started_ms;
    uint64_t restart_at_ms; /* when to start it again; 0: not scheduled */
    unsigned backoff_ms;
    unsigned restarts;
};

struct sup {
    const struct sup_config *cfg;
    const struct sup_options *opts;
    struct child children[SUP_CHILDREN];
    sigset_t old_mask;
    pid_t self;
    bool drop;
    uid_t uid;
    gid_t gid;
};

/* In the forked child: make its own sockets survive exec, restore signals,
 * tie its life to the supervisor, drop privileges, exec. Never returns. */
static void child_exec(struct sup *s, struct child *c, char **argv) __attribute__((noreturn));

static void child_exec(struct sup *s, struct child *c, char **argv)
{
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            signal(sig, SIG_DFL);
        }
    }
    sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    for (int i = 0; i < 2; i++) {
        if (c->fds[i] >= 0 && fcntl(c->fds[i], F_SETFD, 0) != 0) {
            _exit(126);
        }
    }
    /* A supervisor killed outright must not leave orphaned roles serving. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != s->self) {
        _exit(126);
    }
    if (s->drop) {
        if (setgroups(1, &s->gid) != 0 || setgid(s->gid) != 0 || setuid(s->uid) != 0) {
            _exit(126);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        _exit(126);
    }
    execv(argv[0], argv);
    _exit(127);
}

static int child_start(struct sup *s, int idx)
{
    struct child *c = &s->children[idx];
    char *argv[SUP_ARGV_MAX];
    char store[8192];
    int rc = idx == SUP_JOIN ? join_argv(s->cfg, s->opts, argv, SUP_ARGV_MAX, store, sizeof store)
                             : sup_role_argv(s->cfg, s->opts, (enum sup_role)idx, c->fds, argv, SUP_ARGV_MAX,
                                             store, sizeof store);
    if (rc != 0) {
        log_error("supervisor", "role command line too long", "role=%s", child_names[idx]);
        return SUP_ESPAWN;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("supervisor", "fork failed", "role=%s err=\"%s\"", child_names[idx], strerror(errno));
        c->restart_at_ms = clock_mono_ms() + SUP_BACKOFF_MAX_MS;
        return SUP_ESPAWN;
    }
    if (pid == 0) {
        child_exec(s, c, argv);
    }
    c->pid = pid;
    c->started_ms = clock_mono_ms();
    c->restart_at_ms = 0;
    log_info("supervisor", "role started", "role=%s pid=%d restarts=%u", child_names[idx], (int)pid,
             c->restarts);
    return 0;
}

/* Records the exit of 'pid' ('status' from waitpid) and schedules what
 * follows: a restart with backoff, or for the join child, the marker. */
static void child_exited(struct sup *s, pid_t pid, int status, bool stopping)
{
    for (int idx = 0; idx < SUP_CHILDREN; idx++) {
        struct child *c = &s->children[idx];
        if (c->pid != pid) {
            continue;
        }
        c->pid = 0;
        uint64_t now = clock_mono_ms();
        char how[64];
        if (WIFSIGNALED(status)) {
            snprintf(how, sizeof how, "signal=%d", WTERMSIG(status));
        } else {
            snprintf(how, sizeof how, "exit=%d", WEXITSTATUS(status));
        }
        if (stopping) {
            log_info("supervisor", "role stopped", "role=%s pid=%d %s", child_names[idx], (int)pid, how);
            return;
        }
        if (idx == SUP_JOIN && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            char path[SUP_PATH_MAX + 16];
            snprintf(path, sizeof path, "%s/joined", s->cfg->data_dir);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd >= 0) {
                close(fd);
            }
            c->enabled = false;
            log_info("supervisor", "node joined the cluster", "id=%llu", (unsigned long long)s->cfg->id);
            return;
        }
        if (now - c->started_ms >= SUP_STABLE_MS) {
            c->backoff_ms = SUP_BACKOFF_MIN_MS;
        }
        c->restart_at_ms = now + c->backoff_ms;
        c->restarts++;
        log_warn("supervisor", "role exited; restarting", "role=%s pid=%d %s restart_in_ms=%u", child_names[idx],
                 (int)pid, how, c->backoff_ms);
        c->backoff_ms = c->backoff_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : c->backoff_ms * 2;
        return;
    }
}

static unsigned live_children(const struct sup *s)
{
    unsigned n = 0;
    for (int idx = 0; idx < SUP_CHILDREN; idx++) {
        n += s->children[idx].pid > 0;
    }
    return n;
}

static void reap(struct sup *s, bool stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        child_exited(s, pid, status, stopping);
    }
}

/* Resolves the service user. Without root, or without such a user, the
 * roles keep the supervisor's identity (logged). When dropping, the data
 * directory and the node's certificate and key are handed to that user:
 * the roles must write the one and read the others. */
static int resolve_user(struct sup *s)
{
    const struct sup_config *cfg = s->cfg;
    if (!cfg->user[0]) {
        log_info("supervisor", "no service user configured; roles run as the supervisor's user", "uid=%d",
                 (int)geteuid());
        return 0;
    }
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw) {
        log_warn("supervisor", "service user does not exist; roles keep the supervisor's user", "user=%s uid=%d",
                 cfg->user, (int)geteuid());
        return 0;
    }
    if (geteuid() != 0) {
        if (geteuid() != pw->pw_uid) {
            log_warn("supervisor", "not root: cannot switch roles to the service user", "user=%s uid=%d",
                     cfg->user, (int)geteuid());
        }
        return 0;
    }
    s->drop = true;
    s->uid = pw->pw_uid;
    s->gid = pw->pw_gid;
    char path[SUP_PATH_MAX + 80];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", cfg->data_dir, i ? "/store" : "");
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            log_error("supervisor", "cannot create directory", "path=%s err=\"%s\"", path, strerror(errno));
            return SUP_ESYS;
        }
        if (chown(path, s->uid, s->gid) != 0) {
            log_error("supervisor", "cannot hand directory to service user", "path=%s err=\"%s\"", path,
                      strerror(errno));
            return SUP_ESYS;
        }
    }
    const char *creds[] = {"pem", "key"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", cfg->pki_dir, cfg->name, creds[i]);
        if (chown(path, s->uid, s->gid) != 0) {
            log_error("supervisor", "cannot hand credentials to service user", "path=%s err=\"%s\"", path,
                      strerror(errno));
            return SUP_ESYS;
        }
    }
    snprintf(path, sizeof path, "%s/ca.key", cfg->pki_dir);
    if (s->opts->ca_key && chown(path, s->uid, s->gid) != 0) {
        log_error("supervisor", "cannot hand the CA key to the service user", "path=%s err=\"%s\"", path,
                  strerror(errno));
        return SUP_ESYS;
    }
    if (chown(cfg->pki_dir, s->uid, s->gid) != 0) {
        log_warn("supervisor", "cannot hand the PKI folder to the service user", "path=%s err=\"%s\"",
                 cfg->pki_dir, strerror(errno));
    }
    log_info("supervisor", "roles run as service user", "user=%s uid=%d gid=%d", cfg->user, (int)s->uid,
             (int)s->gid);
    return 0;
}

int sup_run(const struct sup_config *cfg, const struct sup_options *opts)
{
    struct sup s = {.cfg = cfg, .opts = opts, .self = getpid()};
    char err[512] = "";
    int rc, sfd = -1;
    unsigned grace = opts->grace_ms ? opts->grace_ms : SUP_DEFAULT_GRACE_MS;
    for (int i = 0; i < SUP_CHILDREN; i++) {
        s.children[i].fds[0] = s.children[i].fds[1] = -1;
        s.children[i].backoff_ms = SUP_BACKOFF_MIN_MS;
        s.children[i].enabled = i < SUP_ROLE_COUNT_ && cfg->roles[i];
    }
    char marker[SUP_PATH_MAX + 16];
    snprintf(marker, sizeof marker, "%s/joined", cfg->data_dir);
    s.children[SUP_JOIN].enabled = opts->join && access(marker, F_OK) != 0;
    if (cfg->roles[SUP_ROLE_CONFIG] && !opts->have_config_role) {
        log_error("supervisor", "this stratad was built without the config role", NULL);
        return SUP_EROLE;
    }
    if (cfg->roles[SUP_ROLE_CONTROL] && !opts->have_control_role) {
        log_error("supervisor", "this stratad was built without the control role", NULL);
        return SUP_EROLE;
    }

    /* Credentials first: a node that cannot prove who it is must not bind. */
    struct pkiset set;
    if (pkiset_load(&set, cfg->pki_dir, cfg->name, err, sizeof err) != 0) {
        log_error("supervisor", "node credentials", "err=\"%s\"", err);
        return SUP_ECREDS;
    }
    pkiset_destroy(&set);
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("supervisor", "cannot create data directory", "path=%s err=\"%s\"", cfg->data_dir,
                  strerror(errno));
        return SUP_ESYS;
    }
    if ((rc = resolve_user(&s)) != 0) {
        return rc;
    }

    /* Block the signals we handle before any child exists. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, &s.old_mask) != 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        log_error("supervisor", "signal setup failed", "err=\"%s\"", strerror(errno));
        rc = SUP_ESYS;
        goto out_mask;
    }

    if (cfg->roles[SUP_ROLE_STORE]) {
        if ((rc = bind_listener(cfg->address, cfg->raft_port, "raft", &s.children[SUP_ROLE_STORE].fds[0])) != 0 ||
            (rc = bind_listener(cfg->address, (uint16_t)(cfg->raft_port + 1), "store-client",
                                &s.children[SUP_ROLE_STORE].fds[1])) != 0) {
            goto out_fds;
        }
    }
    if (cfg->roles[SUP_ROLE_CONFIG] &&
        (rc = bind_listener(cfg->address, cfg->api_port, "api", &s.children[SUP_ROLE_CONFIG].fds[0])) != 0) {
        goto out_fds;
    }
    if (cfg->roles[SUP_ROLE_CONTROL] &&
        ((rc = bind_listener(cfg->address, cfg->bgp_port, "bgp", &s.children[SUP_ROLE_CONTROL].fds[0])) != 0 ||
         (rc = bind_listener(cfg->address, cfg->xmpp_port, "xmpp", &s.children[SUP_ROLE_CONTROL].fds[1])) != 0)) {
        goto out_fds;
    }
    log_info("supervisor", "node starting", "id=%llu name=%s address=%s raft_port=%u api_port=%u join=%d",
             (unsigned long long)cfg->id, cfg->name, cfg->address, cfg->raft_port, cfg->api_port,
             s.children[SUP_JOIN].enabled);

    for (int i = 0; i < SUP_CHILDREN; i++) {
        if (s.children[i].enabled) {
            s.children[i].restart_at_ms = clock_mono_ms();
        }
    }
    bool stopping = false;
    uint64_t kill_at = 0;
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (!stopping) {
            for (int i = 0; i < SUP_CHILDREN; i++) {
                struct child *c = &s.children[i];
                if (c->enabled && c->pid == 0 && c->restart_at_ms && c->restart_at_ms <= now) {
                    (void)child_start(&s, i);
                }
            }
        } else if (live_children(&s) == 0) {
            break;
        } else if (now >= kill_at) {
            for (int i = 0; i < SUP_CHILDREN; i++) {
                if (s.children[i].pid > 0) {
                    log_warn("supervisor", "role did not stop in time; killing", "role=%s pid=%d",
                             child_names[i], (int)s.children[i].pid);
                    kill(s.children[i].pid, SIGKILL);
                }
            }
            kill_at = now + 60000;
        }
        /* Sleep until a signal or the next deadline. */
        uint64_t next = stopping ? kill_at : UINT64_MAX;
        for (int i = 0; i < SUP_CHILDREN && !stopping; i++) {
            const struct child *c = &s.children[i];
            if (c->enabled && c->pid == 0 && c->restart_at_ms && c->restart_at_ms < next) {
                next = c->restart_at_ms;
            }
        }
        now = clock_mono_ms();
        int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("supervisor", "poll failed", "err=\"%s\"", strerror(errno));
        }
        if (n <= 0) {
            continue;
        }
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGCHLD) {
                reap(&s, stopping);
            } else if (si.ssi_signo == SIGHUP) {
                log_info("supervisor", "SIGHUP ignored (restart a role by killing it)", NULL);
            } else if (!stopping) {
                log_info("supervisor", "stopping roles", "signal=%u", si.ssi_signo);
                stopping = true;
                kill_at = clock_mono_ms() + grace;
                for (int i = 0; i < SUP_CHILDREN; i++) {
                    if (s.children[i].pid > 0) {
                        kill(s.children[i].pid, SIGTERM);
                    }
                }
            }
        }
        reap(&s, stopping); /* SIGCHLDs may have coalesced */
    }
    log_info("supervisor", "node stopped", "id=%llu", (unsigned long long)cfg->id);
    rc = 0;
out_fds:
    for (int i = 0; i < SUP_CHILDREN; i++) {
        for (int j = 0; j < 2; j++) {
            if (s.children[i].fds[j] >= 0) {
                close(s.children[i].fds[j]);
            }
        }
    }
    close(sfd);
out_mask:
    sigprocmask(SIG_SETMASK, &s.old_mask, NULL);
    return rc;
}
