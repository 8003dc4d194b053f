/* Join tokens, their stored records, the certificate an enrolment gets and
 * the joiner's node config: the pure pieces of enrolment (join.h). No I/O
 * besides the RNG. */
#include "appliance/join.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

STRATA_ERR_DEFINE(join, JOIN_ERRORS)

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const char *join_kind_name(enum join_kind kind)
{
    return kind == JOIN_KIND_CONTROLLER ? "controller" : kind == JOIN_KIND_VROUTER ? "vrouter" : "?";
}

int join_kind_parse(const char *text, enum join_kind *kind)
{
    if (text && strcmp(text, "controller") == 0) {
        *kind = JOIN_KIND_CONTROLLER;
        return 0;
    }
    if (text && strcmp(text, "vrouter") == 0) {
        *kind = JOIN_KIND_VROUTER;
        return 0;
    }
    return JOIN_EINVAL;
}

bool join_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > JOIN_NAME_MAX || name[0] == '.' || name[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

int join_token_generate(char token[JOIN_TOKEN_SIZE])
{
    WC_RNG rng;
    uint8_t raw[JOIN_TOKEN_RAW + 1];
    if (wc_InitRng(&rng) != 0) {
        return JOIN_EINVAL;
    }
    int rc = wc_RNG_GenerateBlock(&rng, raw, JOIN_TOKEN_RAW);
    wc_FreeRng(&rng);
    if (rc != 0) {
        return JOIN_EINVAL;
    }
    raw[JOIN_TOKEN_RAW] = 0;
    size_t o = sizeof JOIN_TOKEN_PREFIX - 1;
    memcpy(token, JOIN_TOKEN_PREFIX, o);
    for (size_t i = 0; i < JOIN_TOKEN_RAW; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     (i + 2 < JOIN_TOKEN_RAW ? raw[i + 2] : 0);
        size_t chars = i + 3 <= JOIN_TOKEN_RAW ? 4 : (JOIN_TOKEN_RAW - i) + 1;
        for (size_t k = 0; k < chars; k++) {
            token[o++] = b64url[(v >> (18 - 6 * k)) & 0x3f];
        }
    }
    token[o] = '\0';
    explicit_bzero(raw, sizeof raw);
    return 0;
}

bool join_token_wellformed(const char *token)
{
    size_t pl = sizeof JOIN_TOKEN_PREFIX - 1;
    if (!token || strncmp(token, JOIN_TOKEN_PREFIX, pl) != 0 || strlen(token) != pl + JOIN_TOKEN_B64) {
        return false;
    }
    for (size_t i = pl; token[i]; i++) {
        if (!strchr(b64url, token[i])) {
            return false;
        }
    }
    return true;
}

int join_token_hash(const char *token, char hex[JOIN_HASH_HEX])
{
    uint8_t h[WC_SHA256_DIGEST_SIZE];
    if (!token || wc_Sha256Hash((const byte *)token, (word32)strlen(token), h) != 0) {
        return JOIN_EINVAL;
    }
    for (size_t i = 0; i < sizeof h; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    return 0;
}

/* ---- records ---- */

json_t *join_record_to_json(const struct join_record *r)
{
    json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "uuid", r->uuid, "kind", join_kind_name(r->kind),
                            "name", r->name, "created_by", r->created_by, "created", (json_int_t)r->created,
                            "expires", (json_int_t)r->expires);
    if (doc && r->address[0]) {
        json_object_set_new(doc, "address", json_string(r->address));
    }
    if (doc && r->used_at) {
        json_object_set_new(doc, "used_at", json_integer((json_int_t)r->used_at));
        json_object_set_new(doc, "used_from", json_string(r->used_from));
    }
    return doc;
}

static int copy_str(const json_t *doc, const char *key, bool required, char *out, size_t size)
{
    const json_t *v = json_object_get(doc, key);
    out[0] = '\0';
    if (!v) {
        return required ? JOIN_EINVAL : 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= size) {
        return JOIN_EINVAL;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int join_record_from_json(const json_t *doc, struct join_record *r)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(doc) || copy_str(doc, "uuid", true, r->uuid, sizeof r->uuid) ||
        copy_str(doc, "name", true, r->name, sizeof r->name) ||
        copy_str(doc, "address", false, r->address, sizeof r->address) ||
        copy_str(doc, "created_by", false, r->created_by, sizeof r->created_by) ||
        copy_str(doc, "used_from", false, r->used_from, sizeof r->used_from) ||
        join_kind_parse(json_string_value(json_object_get(doc, "kind")), &r->kind) != 0) {
        return JOIN_EINVAL;
    }
    const json_t *c = json_object_get(doc, "created"), *e = json_object_get(doc, "expires"),
                 *u = json_object_get(doc, "used_at");
    if (!json_is_integer(c) || !json_is_integer(e) || (u && !json_is_integer(u))) {
        return JOIN_EINVAL;
    }
    r->created = (time_t)json_integer_value(c);
    r->expires = (time_t)json_integer_value(e);
    r->used_at = u ? (time_t)json_integer_value(u) : 0;
    if (!r->uuid[0] || !join_name_valid(r->name) || r->expires <= r->created) {
        return JOIN_EINVAL;
    }
    return 0;
}

int join_record_check(const struct join_record *r, time_t now)
{
    if (r->used_at) {
        return JOIN_EUSED;
    }
    if (now >= r->expires) {
        return JOIN_EEXPIRED;
    }
    return 0;
}

const char *join_record_state(const struct join_record *r, time_t now)
{
    return r->used_at ? "used" : now >= r->expires ? "expired" : "unused";
}

static bool ip_literal(const char *s)
{
    uint8_t a[16];
    return s && (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}

int join_leaf_params(const struct join_record *r, const char *address, struct join_leaf *leaf)
{
    memset(leaf, 0, sizeof *leaf);
    if (!join_name_valid(r->name)) {
        return JOIN_EINVAL;
    }
    snprintf(leaf->address, sizeof leaf->address, "%s", r->address[0] ? r->address : address ? address : "");
    leaf->dns[0] = r->name;
    leaf->params.common_name = r->name;
    leaf->params.dns_names = leaf->dns;
    leaf->params.dns_count = 1;
    leaf->params.usage = PKI_USAGE_BOTH;
    leaf->params.days_valid = JOIN_DAYS_VALID;
    if (r->kind == JOIN_KIND_CONTROLLER) {
        if (!ip_literal(leaf->address)) {
            return JOIN_EINVAL;
        }
        leaf->ips[0] = leaf->address;
        leaf->params.ip_addrs = leaf->ips;
        leaf->params.ip_count = 1;
        leaf->params.uri = PKI_ROLE_NODE;
    } else if (r->kind == JOIN_KIND_VROUTER) {
        leaf->address[0] = '\0';
        leaf->params.uri = PKI_ROLE_AGENT;
    } else {
        return JOIN_EINVAL;
    }
    return 0;
}

/* ---- the joiner's node config ---- */

static int fail(char *errmsg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *errmsg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, size, fmt, ap);
    va_end(ap);
    return JOIN_EINVAL;
}

int join_node_config(const json_t *members, const struct join_node_opts *o, json_t **cfg, char *errmsg,
                     size_t errmsg_size)
{
    static const char *const default_roles[] = {"store", "config", NULL};
    *cfg = NULL;
    if (!json_is_array(members) || json_array_size(members) == 0 || json_array_size(members) >= 16) {
        return fail(errmsg, errmsg_size, "%s", "the cluster's member list is missing or too long");
    }
    if (!join_name_valid(o->name) || !ip_literal(o->address) || !o->raft_port || o->raft_port > 65534 ||
        !o->data_dir || !o->pki_dir) {
        return fail(errmsg, errmsg_size, "%s", "bad node settings (name, address, raft port, dirs)");
    }
    uint64_t max = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(members, i, m) {
        const char *s = json_string_value(m);
        char *end = NULL;
        uint64_t id = s ? strtoull(s, &end, 10) : 0;
        const char *at = end && *end == '=' ? strchr(end, '@') : NULL;
        if (!id || !at || !strrchr(at, ':')) {
            return fail(errmsg, errmsg_size, "malformed member \"%s\"", s ? s : "(not a string)");
        }
        size_t nlen = (size_t)(at - end - 1);
        if (nlen == strlen(o->name) && memcmp(end + 1, o->name, nlen) == 0) {
            return fail(errmsg, errmsg_size, "a member is already named %s", o->name);
        }
        if (o->id && id == o->id) {
            return fail(errmsg, errmsg_size, "member id of %s is taken", o->name);
        }
        max = id > max ? id : max;
    }
    uint64_t id = o->id ? o->id : max + 1;
    char self[160];
    snprintf(self, sizeof self, strchr(o->address, ':') ? "%llu=%s@[%s]:%u" : "%llu=%s@%s:%u",
             (unsigned long long)id, o->name, o->address, o->raft_port);
    json_t *list = json_deep_copy(members);
    json_t *roles = json_array();
    const char *const *rl = o->roles ? o->roles : default_roles;
    for (size_t k = 0; rl[k]; k++) {
        json_array_append_new(roles, json_string(rl[k]));
    }
    json_array_append_new(list, json_string(self));
    json_t *doc = json_pack("{s:I,s:s,s:s,s:i,s:s,s:s,s:o,s:o}", "id", (json_int_t)id, "name", o->name,
                            "address", o->address, "raft_port", (int)o->raft_port, "data_dir", o->data_dir,
                            "pki_dir", o->pki_dir, "members", list, "roles", roles);
    if (!doc) {
        return fail(errmsg, errmsg_size, "%s", "out of memory");
    }
    if (o->api_port) {
        json_object_set_new(doc, "api_port", json_integer(o->api_port));
    }
    *cfg = doc;
    return 0;
}
