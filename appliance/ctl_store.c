/* `stratactl store`: the operator's tool for the replicated store.
 *
 *   stratactl store [-s TARGET] [--pki DIR --cert NAME] [-o table|json] CMD
 *     put KEY VALUE                  get KEY [--prefix] [--limit N]
 *     del KEY [--prefix]             [--keys-only] [--count] [--serializable]
 *     txn [--if-value K=V] [--if-version K=N] [--if-create K=N]
 *         [--if-mod K=N] [--then-put K=V] [--then-del K]
 *         [--else-put K=V] [--else-del K]
 *     watch KEY [--prefix] [--from REV] [--count N]
 *     status | members | snapshot FILE
 *     member-add ID NAME@HOST:PORT | member-remove ID | transfer [ID]
 * TARGET is NAME@HOST:PORT (the store's client port) or unix:PATH; it and
 * the credentials default to STRATA_STORE, STRATA_PKI and STRATA_CERT. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "appliance/ctl.h"
#include "appliance/pkiset.h"
#include "store/client.h"
#include "store/proto.h"

struct ctl {
    const char *target;
    const char *pki;
    const char *cert;
    bool json;
    struct pkiset set;
    struct tls_ctx *tls;
    struct store_client *client;
};

static int ctl_usage(void)
{
    fprintf(stderr,
            "usage: stratactl store [-s TARGET] [--pki DIR --cert NAME] [-o table|json] COMMAND\n"
            "  put KEY VALUE | get KEY [--prefix] [--limit N] [--keys-only] [--count] [--serializable]\n"
            "  del KEY [--prefix] | txn [--if-value K=V] [--if-version K=N] [--if-create K=N]\n"
            "  [--if-mod K=N] [--then-put K=V] [--then-del K] [--else-put K=V] [--else-del K]\n"
            "  watch KEY [--prefix] [--from REV] [--count N] | status | members | snapshot FILE\n"
            "  member-add ID NAME@HOST:PORT | member-remove ID | transfer [ID]\n");
    return CTL_EXIT_USAGE;
}

static int ctl_fail(int rc, const char *what)
{
    fprintf(stderr, "stratactl: %s: %s\n", what, strata_strerror(rc));
    switch (rc) {
    case STORE_ENOTFOUND:
        return CTL_EXIT_NOTFOUND;
    case STORE_ENOQUORUM:
    case STORE_ETIMEOUT:
    case STORE_ENOTLEADER:
    case STORE_ESHUTDOWN:
    case TLS_ECLOSED:
    case UV_ECONNREFUSED:
        return CTL_EXIT_UNAVAILABLE;
    default:
        return CTL_EXIT_FAIL;
    }
}

static int ctl_connect(struct ctl *c)
{
    char err[512] = "";
    int rc;
    if (!c->target) {
        fprintf(stderr, "stratactl: no store given (-s or STRATA_STORE)\n");
        return CTL_EXIT_USAGE;
    }
    if (strncmp(c->target, "unix:", 5) != 0) {
        if (!c->pki || !c->cert) {
            fprintf(stderr, "stratactl: TLS needs --pki and --cert (or STRATA_PKI, STRATA_CERT)\n");
            return CTL_EXIT_USAGE;
        }
        if (pkiset_load(&c->set, c->pki, c->cert, err, sizeof err) != 0 ||
            pkiset_tls(&c->set, TLS_ROLE_CLIENT, STORE_PROTO_ALPN, &c->tls, err, sizeof err) != 0) {
            fprintf(stderr, "stratactl: credentials: %s\n", err);
            return CTL_EXIT_FAIL;
        }
    }
    rc = store_client_open(c->target, c->tls, 10000, &c->client);
    if (rc != 0) {
        char what[600];
        snprintf(what, sizeof what, "connect to %s", c->target);
        return ctl_fail(rc, what);
    }
    return 0;
}

static void print_kv(const struct ctl *c, const struct store_kv *kv, bool keys_only)
{
    if (c->json) {
        json_t *o = json_pack("{s:s%, s:I, s:I, s:I}", "key", (const char *)kv->key, (size_t)kv->key_size,
                              "create_revision", (json_int_t)kv->create_revision, "mod_revision",
                              (json_int_t)kv->mod_revision, "version", (json_int_t)kv->version);
        if (!keys_only) {
            json_object_set_new(o, "value", json_stringn((const char *)kv->value, kv->value_size));
        }
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) {
            puts(s);
        }
        free(s);
        json_decref(o);
    } else if (keys_only) {
        printf("%.*s\n", (int)kv->key_size, (const char *)kv->key);
    } else {
        printf("%.*s\t%.*s\n", (int)kv->key_size, (const char *)kv->key, (int)kv->value_size,
               (const char *)kv->value);
    }
}

/* Runs a command; while the cluster has no leader (STORE_ENOQUORUM: the
 * request was refused before anything was proposed, so a retry cannot apply
 * it twice) retries for up to 5 s, as an election takes 1-2 s. */
static int run_cmd(struct ctl *c, struct buf *cmd, bool serializable, struct store_reply *reply,
                   struct buf *raw, const char *what)
{
    int rc;
    for (int tries = 0;; tries++) {
        rc = store_client_cmd(c->client, cmd, serializable, raw, reply);
        if (rc != STORE_ENOQUORUM || tries >= 50) {
            break;
        }
        usleep(100 * 1000);
    }
    if (rc != 0) {
        return ctl_fail(rc, what);
    }
    return 0;
}

/* Splits "K=V" in place. */
static int split_kv(char *arg, char **k, char **v)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "stratactl: expected KEY=VALUE, got %s\n", arg);
        return -1;
    }
    *eq = '\0';
    *k = arg;
    *v = eq + 1;
    return 0;
}

static int cmd_txn(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"if-value", required_argument, NULL, 'V'}, {"if-version", required_argument, NULL, 'R'},
        {"if-create", required_argument, NULL, 'C'}, {"if-mod", required_argument, NULL, 'M'},
        {"then-put", required_argument, NULL, 'p'}, {"then-del", required_argument, NULL, 'd'},
        {"else-put", required_argument, NULL, 'P'}, {"else-del", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    struct store_compare cmps[STORE_TXN_COMPARES_MAX];
    struct store_op then_ops[STORE_TXN_OPS_MAX], else_ops[STORE_TXN_OPS_MAX];
    uint32_t ncmp = 0, nthen = 0, nelse = 0;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *k = NULL, *v = NULL;
        if (o == '?' || ((o == 'V' || o == 'R' || o == 'C' || o == 'M' || o == 'p' || o == 'P') &&
                         split_kv(optarg, &k, &v) != 0)) {
            return CTL_EXIT_USAGE;
        }
        if (ncmp >= STORE_TXN_COMPARES_MAX || nthen >= STORE_TXN_OPS_MAX || nelse >= STORE_TXN_OPS_MAX) {
            return CTL_EXIT_USAGE;
        }
        if (o == 'V' || o == 'R' || o == 'C' || o == 'M') {
            struct store_compare *cm = &cmps[ncmp++];
            memset(cm, 0, sizeof *cm);
            cm->op = STORE_CMP_EQ;
            cm->key = (const uint8_t *)k;
            cm->key_size = (uint32_t)strlen(k);
            cm->target = o == 'V' ? STORE_CMP_VALUE : o == 'R' ? STORE_CMP_VERSION : o == 'C' ? STORE_CMP_CREATE : STORE_CMP_MOD;
            if (o == 'V') {
                cm->value = (const uint8_t *)v;
                cm->value_size = (uint32_t)strlen(v);
            } else {
                cm->number = strtoull(v, NULL, 10);
            }
        } else {
            struct store_op *op = (o == 'p' || o == 'd') ? &then_ops[nthen++] : &else_ops[nelse++];
            memset(op, 0, sizeof *op);
            if (o == 'p' || o == 'P') {
                op->kind = STORE_OP_PUT;
                op->sel = store_sel_key(k, (uint32_t)strlen(k));
                op->value = (const uint8_t *)v;
                op->value_size = (uint32_t)strlen(v);
            } else {
                op->kind = STORE_OP_DELETE;
                op->sel = store_sel_key(optarg, (uint32_t)strlen(optarg));
            }
        }
    }
    struct store_cmd cmd = {.kind = STORE_CMD_TXN, .compares = cmps, .compares_len = ncmp,
                            .success = then_ops, .success_len = nthen, .failure = else_ops,
                            .failure_len = nelse};
    struct buf b, raw;
    struct store_reply reply;
    buf_init(&b, 0);
    buf_init(&raw, 0);
    int rc = store_cmd_encode(&cmd, &b);
    if (rc != 0) {
        buf_destroy(&b);
        return ctl_fail(rc, "txn");
    }
    rc = run_cmd(c, &b, false, &reply, &raw, "txn");
    buf_destroy(&b);
    if (rc != 0) {
        buf_destroy(&raw);
        return rc;
    }
    printf("%s revision=%llu\n", reply.succeeded ? "then" : "else", (unsigned long long)reply.revision);
    rc = reply.succeeded ? CTL_EXIT_OK : CTL_EXIT_COMPARE;
    store_reply_destroy(&reply);
    buf_destroy(&raw);
    return rc;
}

struct watch_ctx {
    struct ctl *c;
    long remaining;
};

static int watch_print(void *arg, const struct store_event *ev)
{
    struct watch_ctx *w = arg;
    if (w->c->json) {
        json_t *o = json_pack("{s:s, s:I, s:s%, s:s%}", "type", ev->type == STORE_EVENT_PUT ? "put" : "delete",
                              "revision", (json_int_t)ev->revision, "key", (const char *)ev->kv.key,
                              (size_t)ev->kv.key_size, "value", (const char *)ev->kv.value, (size_t)ev->kv.value_size);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) {
            puts(s);
        }
        free(s);
        json_decref(o);
    } else {
        printf("%s %llu %.*s %.*s\n", ev->type == STORE_EVENT_PUT ? "PUT" : "DELETE",
               (unsigned long long)ev->revision, (int)ev->kv.key_size, (const char *)ev->kv.key,
               (int)ev->kv.value_size, (const char *)ev->kv.value);
    }
    fflush(stdout);
    return w->remaining > 0 && --w->remaining == 0;
}

static int cmd_simple(struct ctl *c, uint8_t type, const void *body, size_t size, const char *what,
                      struct buf *reply)
{
    int status = 0;
    int rc = store_client_call(c->client, type, 0, body, size, &status, reply);
    if (rc == 0) {
        rc = status;
    }
    return rc ? ctl_fail(rc, what) : 0;
}

static int ctl_dispatch(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"prefix", no_argument, NULL, 'x'},   {"limit", required_argument, NULL, 'l'},
        {"keys-only", no_argument, NULL, 'k'}, {"count", optional_argument, NULL, 'n'},
        {"serializable", no_argument, NULL, 'z'}, {"from", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *verb = argv[0];
    if (strcmp(verb, "txn") == 0) {
        return cmd_txn(c, argc, argv);
    }
    bool prefix = false, keys_only = false, count = false, serializable = false;
    long limit = 0, watch_count = 0;
    uint64_t from = 0;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'x': prefix = true; break;
        case 'l': limit = strtol(optarg, NULL, 10); break;
        case 'k': keys_only = true; break;
        case 'n':
            count = true;
            watch_count = optarg ? strtol(optarg, NULL, 10) : 0;
            break;
        case 'z': serializable = true; break;
        case 'f': from = strtoull(optarg, NULL, 10); break;
        default: return ctl_usage();
        }
    }
    char **args = argv + optind;
    int nargs = argc - optind;
    struct buf b, raw;
    struct store_reply reply;
    int rc = 0;
    buf_init(&b, 0);
    buf_init(&raw, 0);

    if (strcmp(verb, "put") == 0 && nargs == 2) {
        rc = store_cmd_encode_put(&b, args[0], (uint32_t)strlen(args[0]), args[1], (uint32_t)strlen(args[1]), 0);
        if (rc == 0 && (rc = run_cmd(c, &b, false, &reply, &raw, "put")) == 0) {
            printf("OK revision=%llu\n", (unsigned long long)reply.revision);
            store_reply_destroy(&reply);
        } else if (rc < 0) {
            rc = ctl_fail(rc, "put");
        }
    } else if ((strcmp(verb, "get") == 0 || strcmp(verb, "del") == 0) && nargs == 1) {
        bool get = verb[0] == 'g';
        struct store_keysel sel = prefix ? store_sel_prefix(args[0], (uint32_t)strlen(args[0]))
                                         : store_sel_key(args[0], (uint32_t)strlen(args[0]));
        uint8_t flags = (uint8_t)((keys_only ? STORE_F_KEYS_ONLY : 0) | (count ? STORE_F_COUNT_ONLY : 0));
        rc = get ? store_cmd_encode_range(&b, &sel, (uint32_t)limit, flags) : store_cmd_encode_delete(&b, &sel, 0);
        if (rc == 0 && (rc = run_cmd(c, &b, get && serializable, &reply, &raw, verb)) == 0) {
            const struct store_op_result *r = reply.results_len ? &reply.results[0] : NULL;
            if (!get) {
                printf("deleted %llu revision=%llu\n", r ? (unsigned long long)r->count : 0ULL,
                       (unsigned long long)reply.revision);
            } else if (count) {
                printf("%llu\n", r ? (unsigned long long)r->count : 0ULL);
            } else if (!r || r->kvs_len == 0) {
                if (!prefix) {
                    rc = ctl_fail(STORE_ENOTFOUND, args[0]);
                }
            } else {
                for (uint32_t i = 0; i < r->kvs_len; i++) {
                    print_kv(c, &r->kvs[i], keys_only);
                }
            }
            store_reply_destroy(&reply);
        } else if (rc < 0) {
            rc = ctl_fail(rc, verb);
        }
    } else if (strcmp(verb, "watch") == 0 && nargs == 1) {
        struct store_keysel sel = prefix ? store_sel_prefix(args[0], (uint32_t)strlen(args[0]))
                                         : store_sel_key(args[0], (uint32_t)strlen(args[0]));
        struct watch_ctx w = {.c = c, .remaining = watch_count};
        uint64_t compacted = 0;
        rc = store_client_watch(c->client, from, &sel, 0, watch_print, &w, &compacted);
        if (rc == STORE_ECOMPACTED) {
            fprintf(stderr, "stratactl: watch: revision %llu is compacted (oldest kept: %llu); resync\n",
                    (unsigned long long)from, (unsigned long long)compacted + 1);
            rc = CTL_EXIT_FAIL;
        } else if (rc != 0) {
            rc = ctl_fail(rc, "watch");
        }
    } else if ((strcmp(verb, "status") == 0 || strcmp(verb, "members") == 0) && nargs == 0) {
        rc = cmd_simple(c, STORE_MSG_STATUS, NULL, 0, verb, &raw);
        if (rc == 0) {
            json_error_t jerr;
            json_t *doc = json_loadb((const char *)raw.data, raw.size, 0, &jerr);
            if (!doc) {
                rc = ctl_fail(STORE_EFORMAT, verb);
            } else if (c->json) {
                json_t *show = verb[0] == 'm' ? json_object_get(doc, "members") : doc;
                char *s = json_dumps(show, JSON_INDENT(2));
                puts(s ? s : "");
                free(s);
            } else if (verb[0] == 's') {
                json_t *st = json_object_get(doc, "store");
                printf("node %lld  %s  term %lld  leader %lld (%s)\n", json_integer_value(json_object_get(doc, "id")),
                       json_string_value(json_object_get(doc, "state")), json_integer_value(json_object_get(doc, "term")),
                       json_integer_value(json_object_get(doc, "leader_id")),
                       json_string_value(json_object_get(doc, "leader_address")));
                printf("raft: commit %lld  applied %lld  last %lld\n",
                       json_integer_value(json_object_get(doc, "commit_index")),
                       json_integer_value(json_object_get(doc, "applied_index")),
                       json_integer_value(json_object_get(doc, "last_index")));
                printf("store: revision %lld  compacted %lld  map %lld/%lld bytes  hash %.16s\n",
                       json_integer_value(json_object_get(st, "revision")),
                       json_integer_value(json_object_get(st, "compacted_revision")),
                       json_integer_value(json_object_get(st, "map_used")),
                       json_integer_value(json_object_get(st, "map_size")),
                       json_string_value(json_object_get(st, "hash")));
            } else {
                size_t i;
                json_t *m;
                printf("%-4s %-8s %-40s %s\n", "ID", "ROLE", "ADDRESS", "LAG");
                json_array_foreach(json_object_get(doc, "members"), i, m) {
                    json_t *lag = json_object_get(m, "lag");
                    char lagtext[24] = "-";
                    if (lag) {
                        snprintf(lagtext, sizeof lagtext, "%lld", json_integer_value(lag));
                    }
                    printf("%-4lld %-8s %-40s %s\n", json_integer_value(json_object_get(m, "id")),
                           json_string_value(json_object_get(m, "role")),
                           json_string_value(json_object_get(m, "address")), lagtext);
                }
            }
            json_decref(doc);
        }
    } else if (strcmp(verb, "snapshot") == 0 && nargs == 1) {
        rc = cmd_simple(c, STORE_MSG_BACKUP, NULL, 0, verb, &raw);
        if (rc == 0) {
            int fd = open(args[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0 || write(fd, raw.data, raw.size) != (ssize_t)raw.size || fsync(fd) != 0) {
                fprintf(stderr, "stratactl: snapshot: %s: %s\n", args[0], strerror(errno));
                rc = CTL_EXIT_FAIL;
            } else {
                printf("wrote %zu bytes to %s\n", raw.size, args[0]);
            }
            if (fd >= 0) {
                close(fd);
            }
        }
    } else if (strcmp(verb, "member-add") == 0 && nargs == 2) {
        size_t alen = strlen(args[1]);
        rc = buf_put_u64(&b, strtoull(args[0], NULL, 10));
        if (rc == 0) rc = buf_put_u16(&b, (uint16_t)alen);
        if (rc == 0) rc = buf_put(&b, args[1], alen);
        rc = rc ? ctl_fail(rc, verb) : cmd_simple(c, STORE_MSG_MEMBER_ADD, b.data, b.size, verb, NULL);
        if (rc == 0) {
            printf("member %s added as a voter\n", args[0]);
        }
    } else if ((strcmp(verb, "member-remove") == 0 && nargs == 1) || (strcmp(verb, "transfer") == 0 && nargs <= 1)) {
        rc = buf_put_u64(&b, nargs ? strtoull(args[0], NULL, 10) : 0);
        rc = rc ? ctl_fail(rc, verb)
                : cmd_simple(c, verb[0] == 'm' ? STORE_MSG_MEMBER_REMOVE : STORE_MSG_TRANSFER, b.data, b.size, verb, NULL);
        if (rc == 0) {
            printf("%s done\n", verb);
        }
    } else {
        rc = ctl_usage();
    }
    buf_destroy(&b);
    buf_destroy(&raw);
    return rc;
}

int ctl_store(int argc, char **argv)
{
    struct ctl c = {
        .target = getenv("STRATA_STORE"),
        .pki = getenv("STRATA_PKI"),
        .cert = getenv("STRATA_CERT"),
    };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--store") == 0) && i + 1 < argc) {
            c.target = argv[++i];
        } else if (strcmp(argv[i], "--pki") == 0 && i + 1 < argc) {
            c.pki = argv[++i];
        } else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
            c.cert = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            const char *fmt = argv[++i];
            if (strcmp(fmt, "json") != 0 && strcmp(fmt, "table") != 0) {
                return ctl_usage();
            }
            c.json = strcmp(fmt, "json") == 0;
        } else {
            return ctl_usage();
        }
    }
    if (i >= argc || strcmp(argv[i], "help") == 0) {
        return ctl_usage();
    }
    int rc = ctl_connect(&c);
    if (rc == 0) {
        rc = ctl_dispatch(&c, argc - i, argv + i);
    }
    store_client_close(c.client);
    tls_ctx_free(c.tls);
    pkiset_destroy(&c.set);
    return rc;
}
