/* The compiler core (compile.h): intent objects in, derived objects out,
 * deterministically and without I/O. The model keeps the intent objects
 * with the reverse indexes incremental compilation needs; the pools keep
 * identifier ownership; each compile_*() of a source rebuilds exactly the
 * objects that source owns. Semantics:
 *
 *  - virtual-network V (fq F, name N): routing-instance F+[N] (default,
 *    parent V) referring to its own route-target (import and export) and
 *    importing the route-target of every network V is connected to;
 *    route-target ["target:<ASN>:<n>"] with n the lowest free number from
 *    8,000,000; a VNI (virtual_network_properties.vxlan_network_identifier
 *    when set, else the lowest free from 1; from rules version 3 the
 *    default instance carries it as vxlan_network_identifier, which is how
 *    agents learn it); access-control-list F+[N]
 *    with the entries of the attached policies in (sequence major, minor,
 *    policy fq_name) order.
 *  - A policy rule expands to one ACL entry per (source address,
 *    destination address, source ports, destination ports), and for
 *    direction "<>" the reverse entry right after it. "local" names the
 *    network the ACL belongs to; a name without ':' is relative to the
 *    policy's project; a pair whose two ends both name other networks is
 *    not relevant to V and left out. Missing action_list: deny.
 *  - V and W are connected when a policy attached to V has a "pass" rule
 *    without services with V (or local) on one side and W on the other,
 *    and a policy attached to W has one naming V: both sides must allow,
 *    as in the anchor. "any" connects nothing.
 *  - security-group S: ACLs S+["ingress-access-control-list"] (rules whose
 *    destination is the local group) and S+["egress-access-control-list"]
 *    (source is the local group), entries carrying direction. Stateful:
 *    the datapath creates the reverse flow with the forward one, so the
 *    return traffic of a flow an entry allowed is allowed without an entry
 *    of its own; there is no implicit allow otherwise.
 *  - project P: when no security-group P+["default"] is an input, that
 *    group (allow all egress, IPv4 and IPv6; allow ingress from members of
 *    the same group) and its two ACLs. The group is created, not owned: it
 *    has no derived_from, so no diff ever deletes it; once written it is an
 *    input like any group (users may edit it) and owns its ACLs. */
#include "compiler/compile.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

STRATA_ERR_DEFINE(compile, COMPILE_ERRORS)

#define FQ_STR_MAX 4096

struct compile_model {
    json_t *objs;      /* uuid -> {"t": type, "o": object} */
    json_t *fq;        /* type 0x1f fq elements joined by 0x1f -> uuid */
    json_t *vn_names;  /* network fq_name joined by ':' -> uuid */
    json_t *si_names;  /* service-instance fq_name joined by ':' -> uuid */
    json_t *pol_vns;   /* policy uuid -> {network uuid: true} */
    json_t *vn_lrs;    /* network uuid -> {logical-router uuid: true} */
    json_t *name_pols; /* network fq ':' string, or 0x1f + service-instance fq
                        * ':' string -> {policy uuid: true} */
    json_t *vm_vrs;    /* virtual-machine uuid -> {virtual-router uuid: true} */
    json_t *vm_vmis;   /* virtual-machine uuid -> {interface uuid referring to it: true} */
    json_t *vm_cvmis;  /* virtual-machine uuid -> {interface uuid under it: true} */
    json_t *vmi_fips;  /* interface uuid -> {floating-ip uuid: true} */
    json_t *vmi_iips;  /* interface uuid -> {instance-ip uuid: true} */
    json_t *st_sis;    /* service-template uuid -> {service-instance uuid: true} */
    json_t *si_pts;    /* service-instance uuid -> {port-tuple uuid: true} */
    json_t *pt_vmis;   /* port-tuple uuid -> {interface uuid: true} */
    int version;       /* rules version (compile_model_set_version()) */
    char gsc[64];      /* uuid of the global-system-config, "" when none */
    json_t *reads;     /* NULL, or the read set being recorded (compile_model_track()) */
};

/* One pool. Invariants: 'owner' and 'used' are inverse maps; every number
 * in [first, next) is used; first <= every used number <= last. */
struct pool {
    uint64_t first, last, next;
    json_t *owner; /* owner uuid -> number */
    json_t *used;  /* decimal number -> owner uuid */
    json_t *journal; /* while journaling (compile_alloc_begin()): owner -> the
                      * number it held when the journal began (0: none),
                      * noted before its first change; else NULL */
    uint64_t saved_next; /* 'next' when the journal began */
    bool lost;           /* a note failed (out of memory): the journal is incomplete */
};

/* Route targets of service routing instances are owned by
 * "<network uuid>/<service-instance uuid>"; 'svc' indexes them by network
 * so a network's compile releases the ones it no longer needs. */
struct compile_alloc {
    struct pool rt;
    struct pool vni;
    json_t *svc; /* network uuid -> {owner: true} */
    json_t *svc_journal; /* while journaling: network uuid -> its 'svc' entry when
                          * the journal began (a copy, or null) */
    bool broken;         /* journaling ran out of memory: rollback cannot restore */
};

/* ---- helpers ---------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Joins the string elements of 'fq' with 'sep' into 'out'. */
static int fq_join(const json_t *fq, char sep, char *out, size_t size)
{
    size_t i, len = 0;
    const json_t *e;
    if (!json_is_array(fq) || json_array_size(fq) == 0) {
        return COMPILE_EINVAL;
    }
    json_array_foreach(fq, i, e) {
        const char *s = json_string_value(e);
        if (!s) {
            return COMPILE_EINVAL;
        }
        size_t n = strlen(s);
        if (len + n + 2 > size) {
            return COMPILE_ETOOLARGE;
        }
        if (i > 0) {
            out[len++] = sep;
        }
        memcpy(out + len, s, n);
        len += n;
    }
    out[len] = '\0';
    return 0;
}

static int set_add(json_t *set, const char *key)
{
    return json_object_set_new(set, key, json_true()) == 0 ? 0 : COMPILE_ENOMEM;
}

/* Adds 'inner' to the set at outer[key], creating it. */
static int index_add(json_t *outer, const char *key, const char *inner)
{
    json_t *s = json_object_get(outer, key);
    if (!s) {
        s = json_object();
        if (!s || json_object_set_new(outer, key, s) != 0) {
            return COMPILE_ENOMEM;
        }
    }
    return set_add(s, inner);
}

static void index_del(json_t *outer, const char *key, const char *inner)
{
    json_t *s = json_object_get(outer, key);
    if (s) {
        json_object_del(s, inner);
        if (json_object_size(s) == 0) {
            json_object_del(outer, key);
        }
    }
}

/* The fq ':' string network address 'name' of a rule in policy 'pol'
 * names: relative names are taken under the policy's project. Returns 0
 * with 'out' set, or 1 when 'name' is "any"/"local" (copied as is). */
static int vn_name_resolve(const json_t *pol, const char *name, char *out, size_t size)
{
    if (strcmp(name, "any") == 0 || strcmp(name, "local") == 0) {
        snprintf(out, size, "%s", name);
        return 1;
    }
    if (strchr(name, ':')) {
        snprintf(out, size, "%s", name);
        return 0;
    }
    char proj[FQ_STR_MAX];
    json_t *fq = json_object_get(pol, "fq_name");
    size_t n = json_array_size(fq);
    proj[0] = '\0';
    if (n >= 2) {
        json_t *pfq = json_array();
        for (size_t i = 0; pfq && i + 1 < n; i++) {
            json_array_append(pfq, json_array_get(fq, i));
        }
        if (!pfq || fq_join(pfq, ':', proj, sizeof proj) != 0) {
            proj[0] = '\0';
        }
        json_decref(pfq);
    }
    if (proj[0]) {
        snprintf(out, size, "%s:%s", proj, name);
    } else {
        snprintf(out, size, "%s", name);
    }
    return 0;
}

typedef int (*name_fn)(void *arg, const char *fq);

/* Calls 'fn' for every network fq_name (resolved, not any/local) the
 * rules of policy 'pol' name, possibly repeatedly. */
static int policy_foreach_vn(const json_t *pol, name_fn fn, void *arg)
{
    const json_t *rules = json_object_get(json_object_get(pol, "network_policy_entries"), "policy_rule");
    size_t i, j;
    const json_t *rule, *addr;
    json_array_foreach(rules, i, rule) {
        for (int side = 0; side < 2; side++) {
            const json_t *addrs = json_object_get(rule, side ? "dst_addresses" : "src_addresses");
            json_array_foreach(addrs, j, addr) {
                const char *name = str_of(addr, "virtual_network");
                char fq[FQ_STR_MAX];
                if (name && vn_name_resolve(pol, name, fq, sizeof fq) == 0) {
                    int rc = fn(arg, fq);
                    if (rc != 0) {
                        return rc;
                    }
                }
            }
        }
    }
    return 0;
}

/* Calls 'fn' for every service instance the rules of 'pol' apply, as
 * 0x1f followed by its resolved fq ':' string. */
static int policy_foreach_svc(const json_t *pol, name_fn fn, void *arg)
{
    const json_t *rules = json_object_get(json_object_get(pol, "network_policy_entries"), "policy_rule");
    size_t i, j;
    const json_t *rule, *svc;
    json_array_foreach(rules, i, rule) {
        json_array_foreach(json_object_get(json_object_get(rule, "action_list"), "apply_service"), j, svc) {
            char fq[FQ_STR_MAX];
            const char *name = json_string_value(svc);
            if (name) {
                fq[0] = '\x1f';
                (void)vn_name_resolve(pol, name, fq + 1, sizeof fq - 1);
                int rc = fn(arg, fq);
                if (rc != 0) {
                    return rc;
                }
            }
        }
    }
    return 0;
}

/* True when logical-router ref 'ref' connects an internal network (the
 * external gateway network is not joined to the router's target). */
static bool lr_connects(const json_t *ref)
{
    const char *t = str_of(json_object_get(ref, "attr"), "logical_router_virtual_network_type");
    return !t || strcmp(t, "ExternalGateway") != 0;
}

/* ---- model ------------------------------------------------------------ */

int compile_model_create(struct compile_model **out)
{
    struct compile_model *m = calloc(1, sizeof *m);
    if (!m) {
        return COMPILE_ENOMEM;
    }
    m->objs = json_object();
    m->fq = json_object();
    m->vn_names = json_object();
    m->si_names = json_object();
    m->pol_vns = json_object();
    m->name_pols = json_object();
    m->vn_lrs = json_object();
    m->vm_vrs = json_object();
    m->vm_vmis = json_object();
    m->vm_cvmis = json_object();
    m->vmi_fips = json_object();
    m->vmi_iips = json_object();
    m->st_sis = json_object();
    m->si_pts = json_object();
    m->pt_vmis = json_object();
    m->version = COMPILE_VERSION_MAX;
    if (!m->objs || !m->fq || !m->vn_names || !m->si_names || !m->pol_vns || !m->name_pols ||
        !m->vn_lrs || !m->vm_vrs || !m->vm_vmis || !m->vm_cvmis || !m->vmi_fips || !m->vmi_iips ||
        !m->st_sis || !m->si_pts || !m->pt_vmis) {
        compile_model_free(m);
        return COMPILE_ENOMEM;
    }
    *out = m;
    return 0;
}

void compile_model_free(struct compile_model *m)
{
    if (!m) {
        return;
    }
    json_decref(m->objs);
    json_decref(m->fq);
    json_decref(m->vn_names);
    json_decref(m->si_names);
    json_decref(m->pol_vns);
    json_decref(m->name_pols);
    json_decref(m->vn_lrs);
    json_decref(m->vm_vrs);
    json_decref(m->vm_vmis);
    json_decref(m->vm_cvmis);
    json_decref(m->vmi_fips);
    json_decref(m->vmi_iips);
    json_decref(m->st_sis);
    json_decref(m->si_pts);
    json_decref(m->pt_vmis);
    free(m);
}

void compile_model_set_version(struct compile_model *m, int version)
{
    m->version = version < COMPILE_VERSION_MIN   ? COMPILE_VERSION_MIN
                 : version > COMPILE_VERSION_MAX ? COMPILE_VERSION_MAX
                                                 : version;
}

int compile_model_version(const struct compile_model *m)
{
    return m->version;
}

/* Adds ('add') or removes 'uuid' in idx[target] for every ref in
 * obj[refs_key]. */
static int refs_index(json_t *idx, const json_t *obj, const char *refs_key, const char *uuid, bool add)
{
    size_t i;
    const json_t *ref;
    json_array_foreach(json_object_get(obj, refs_key), i, ref) {
        const char *to = str_of(ref, "uuid");
        if (!to) {
            continue;
        }
        if (add) {
            int rc = index_add(idx, to, uuid);
            if (rc != 0) {
                return rc;
            }
        } else {
            index_del(idx, to, uuid);
        }
    }
    return 0;
}

static int fq_key(const char *type, const json_t *fq, char *out, size_t size)
{
    size_t n = strlen(type);
    if (n + 2 > size) {
        return COMPILE_ETOOLARGE;
    }
    memcpy(out, type, n);
    out[n] = '\x1f';
    return fq_join(fq, '\x1f', out + n + 1, size - n - 1);
}

struct name_ctx {
    struct compile_model *m;
    const char *pol;
    bool add;
};

static int name_index(void *arg, const char *fq)
{
    struct name_ctx *c = arg;
    if (c->add) {
        return index_add(c->m->name_pols, fq, c->pol);
    }
    index_del(c->m->name_pols, fq, c->pol);
    return 0;
}

/* Adds ('add') or removes the index entries of 'obj'. */
static int model_index(struct compile_model *m, const char *type, const char *uuid, const json_t *obj,
                       bool add)
{
    char key[FQ_STR_MAX];
    int rc = fq_key(type, json_object_get(obj, "fq_name"), key, sizeof key);
    if (rc != 0) {
        return rc;
    }
    if (add) {
        if (json_object_set_new(m->fq, key, json_string(uuid)) != 0) {
            return COMPILE_ENOMEM;
        }
    } else {
        json_object_del(m->fq, key);
    }
    if (strcmp(type, "virtual-network") == 0) {
        rc = fq_join(json_object_get(obj, "fq_name"), ':', key, sizeof key);
        if (rc != 0) {
            return rc;
        }
        if (add) {
            if (json_object_set_new(m->vn_names, key, json_string(uuid)) != 0) {
                return COMPILE_ENOMEM;
            }
        } else {
            json_object_del(m->vn_names, key);
        }
        size_t i;
        const json_t *ref;
        json_array_foreach(json_object_get(obj, "network_policy_refs"), i, ref) {
            const char *pu = str_of(ref, "uuid");
            if (!pu) {
                continue;
            }
            if (add) {
                if ((rc = index_add(m->pol_vns, pu, uuid)) != 0) {
                    return rc;
                }
            } else {
                index_del(m->pol_vns, pu, uuid);
            }
        }
    } else if (strcmp(type, "network-policy") == 0) {
        struct name_ctx c = {m, uuid, add};
        rc = policy_foreach_vn(obj, name_index, &c);
        return rc == 0 ? policy_foreach_svc(obj, name_index, &c) : rc;
    } else if (strcmp(type, "logical-router") == 0) {
        size_t i;
        const json_t *ref;
        json_array_foreach(json_object_get(obj, "virtual_network_refs"), i, ref) {
            const char *vu = str_of(ref, "uuid");
            if (!vu || !lr_connects(ref)) {
                continue;
            }
            if (add) {
                if ((rc = index_add(m->vn_lrs, vu, uuid)) != 0) {
                    return rc;
                }
            } else {
                index_del(m->vn_lrs, vu, uuid);
            }
        }
    } else if (strcmp(type, "service-instance") == 0) {
        rc = fq_join(json_object_get(obj, "fq_name"), ':', key, sizeof key);
        if (rc != 0) {
            return rc;
        }
        if (add) {
            if (json_object_set_new(m->si_names, key, json_string(uuid)) != 0) {
                return COMPILE_ENOMEM;
            }
        } else {
            json_object_del(m->si_names, key);
        }
        return refs_index(m->st_sis, obj, "service_template_refs", uuid, add);
    } else if (strcmp(type, "global-system-config") == 0) {
        if (add) {
            snprintf(m->gsc, sizeof m->gsc, "%s", uuid);
        } else if (strcmp(m->gsc, uuid) == 0) {
            m->gsc[0] = '\0';
        }
    } else if (strcmp(type, "virtual-router") == 0) {
        return refs_index(m->vm_vrs, obj, "virtual_machine_refs", uuid, add);
    } else if (strcmp(type, "virtual-machine-interface") == 0) {
        const char *pt = str_of(obj, "parent_type"), *pu = str_of(obj, "parent_uuid");
        if (pt && pu && strcmp(pt, "virtual-machine") == 0) {
            if (add && (rc = index_add(m->vm_cvmis, pu, uuid)) != 0) {
                return rc;
            } else if (!add) {
                index_del(m->vm_cvmis, pu, uuid);
            }
        }
        if ((rc = refs_index(m->vm_vmis, obj, "virtual_machine_refs", uuid, add)) != 0) {
            return rc;
        }
        return refs_index(m->pt_vmis, obj, "port_tuple_refs", uuid, add);
    } else if (strcmp(type, "floating-ip") == 0) {
        return refs_index(m->vmi_fips, obj, "virtual_machine_interface_refs", uuid, add);
    } else if (strcmp(type, "instance-ip") == 0) {
        return refs_index(m->vmi_iips, obj, "virtual_machine_interface_refs", uuid, add);
    } else if (strcmp(type, "port-tuple") == 0) {
        const char *si = str_of(obj, "parent_uuid");
        if (si && add) {
            return index_add(m->si_pts, si, uuid);
        } else if (si) {
            index_del(m->si_pts, si, uuid);
        }
    }
    return 0;
}

void compile_model_track(struct compile_model *m, json_t *reads)
{
    m->reads = reads;
}

/* Records a lookup in the read set: 'key' is a uuid ('found' non-NULL and
 * 'type' its type when present) or, for a lookup by name, "<type>\x1f<fq
 * joined by ':'>". Absent entries map to false, present ones to their
 * type. Recording never fails the compile: when memory runs out the set
 * gets the key COMPILE_READS_OOM and the caller must not trust it. */
static void read_note(const struct compile_model *m, const char *key, const char *found,
                      const char *type)
{
    if (json_object_get(m->reads, key)) {
        return;
    }
    if (json_object_set_new(m->reads, key, found ? json_string(type ? type : "") : json_false())) {
        json_object_set_new(m->reads, COMPILE_READS_OOM, json_true());
    }
}

/* The uuid of the object of 'type' whose ':'-joined fq_name is 'fq' in the
 * name index 'idx', recording the lookup. */
static const char *name_get(const struct compile_model *m, const json_t *idx, const char *type,
                            const char *fq)
{
    const char *u = json_string_value(json_object_get(idx, fq));
    if (m->reads) {
        if (u) {
            (void)compile_model_get(m, u, NULL);
        } else {
            char key[FQ_STR_MAX + 80];
            snprintf(key, sizeof key, "%s\x1f%s", type, fq);
            read_note(m, key, NULL, NULL);
        }
    }
    return u;
}

/* The set idx[key] (borrowed, may be NULL), recording in the read set
 * that the store's relation index 'kind' ("br", "wbr" or "ch") under
 * 'key' holds as many entries of 'type' as the set has (an enumeration
 * read: the caller compares COUNT(/c/<kind>/<key>/<type>/)). */
static const json_t *members(const struct compile_model *m, const json_t *idx, const char *key,
                             const char *kind, const char *type)
{
    const json_t *set = json_object_get(idx, key);
    if (m->reads) {
        char k[256];
        snprintf(k, sizeof k, "%s/c/%s/%s/%s/", COMPILE_READS_COUNT, kind, key, type);
        if (!json_object_get(m->reads, k) &&
            json_object_set_new(m->reads, k, json_integer((json_int_t)json_object_size(set))) != 0) {
            json_object_set_new(m->reads, COMPILE_READS_OOM, json_true());
        }
    }
    return set;
}

int compile_model_put(struct compile_model *m, const char *type, json_t *obj)
{
    const char *uuid = str_of(obj, "uuid");
    char key[FQ_STR_MAX];
    if (!uuid || strlen(uuid) >= 64 || fq_key(type, json_object_get(obj, "fq_name"), key, sizeof key) != 0) {
        return COMPILE_EINVAL;
    }
    compile_model_remove(m, uuid);
    json_t *e = json_pack("{s:s,s:O}", "t", type, "o", obj);
    if (!e || json_object_set_new(m->objs, uuid, e) != 0) {
        return COMPILE_ENOMEM;
    }
    int rc = model_index(m, type, uuid, obj, true);
    if (rc != 0) {
        compile_model_remove(m, uuid);
    }
    return rc;
}

void compile_model_remove(struct compile_model *m, const char *uuid)
{
    json_t *e = json_object_get(m->objs, uuid);
    if (!e) {
        return;
    }
    json_incref(e);
    json_object_del(m->objs, uuid);
    /* Removal only deletes index entries; it cannot fail for lack of memory. */
    (void)model_index(m, str_of(e, "t"), uuid, json_object_get(e, "o"), false);
    json_decref(e);
}

const json_t *compile_model_get(const struct compile_model *m, const char *uuid, const char **type)
{
    json_t *e = json_object_get(m->objs, uuid);
    if (m->reads && uuid) {
        read_note(m, uuid, e ? "" : NULL, e ? str_of(e, "t") : NULL);
    }
    if (type) {
        *type = e ? str_of(e, "t") : NULL;
    }
    return e ? json_object_get(e, "o") : NULL;
}

int compile_model_load(struct compile_model *m, const json_t *input)
{
    size_t i;
    json_t *o;
    if (!json_is_array(input)) {
        return COMPILE_EINVAL;
    }
    json_array_foreach(input, i, o) {
        const char *type = str_of(o, "type");
        if (!type) {
            return COMPILE_EINVAL;
        }
        json_t *copy = json_copy(o);
        if (!copy) {
            return COMPILE_ENOMEM;
        }
        json_object_del(copy, "type");
        int rc = compile_model_put(m, type, copy);
        json_decref(copy);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

const char *compile_model_find(const struct compile_model *m, const char *type,
                               const json_t *fq_name)
{
    char key[FQ_STR_MAX];
    if (fq_key(type, fq_name, key, sizeof key) != 0) {
        return NULL;
    }
    return json_string_value(json_object_get(m->fq, key));
}

static const json_t *model_by_fq(const struct compile_model *m, const char *type, const json_t *fq)
{
    char key[FQ_STR_MAX];
    if (fq_key(type, fq, key, sizeof key) != 0) {
        return NULL;
    }
    const char *uuid = json_string_value(json_object_get(m->fq, key));
    if (!uuid && m->reads) {
        char name[FQ_STR_MAX + 80];
        if (fq_join(fq, ':', key, sizeof key) == 0) {
            snprintf(name, sizeof name, "%s\x1f%s", type, key);
            read_note(m, name, NULL, NULL);
        }
    }
    return uuid ? compile_model_get(m, uuid, NULL) : NULL;
}

/* ---- pools ------------------------------------------------------------ */

static int pool_init(struct pool *p, uint64_t first, uint64_t last)
{
    p->first = p->next = first;
    p->last = last;
    p->owner = json_object();
    p->used = json_object();
    return p->owner && p->used ? 0 : COMPILE_ENOMEM;
}

static bool pool_used(const struct pool *p, uint64_t n)
{
    char k[24];
    snprintf(k, sizeof k, "%llu", (unsigned long long)n);
    return json_object_get(p->used, k) != NULL;
}

/* Notes what 'owner' holds before its first change in a journal. */
static int pool_note(struct pool *p, const char *owner)
{
    if (!p->journal || json_object_get(p->journal, owner)) {
        return 0;
    }
    json_int_t n = json_integer_value(json_object_get(p->owner, owner));
    if (json_object_set_new(p->journal, owner, json_integer(n)) != 0) {
        p->lost = true;
        return COMPILE_ENOMEM;
    }
    return 0;
}

static void pool_release(struct pool *p, const char *owner)
{
    json_t *v = json_object_get(p->owner, owner);
    if (!v) {
        return;
    }
    (void)pool_note(p, owner); /* a failure marks the journal lost */
    uint64_t n = (uint64_t)json_integer_value(v);
    char k[24];
    snprintf(k, sizeof k, "%llu", (unsigned long long)n);
    json_object_del(p->used, k);
    json_object_del(p->owner, owner);
    if (n < p->next) {
        p->next = n;
    }
}

static int pool_claim(struct pool *p, const char *owner, uint64_t n)
{
    char k[24];
    if (n < p->first || n > p->last) {
        return COMPILE_EINVAL;
    }
    snprintf(k, sizeof k, "%llu", (unsigned long long)n);
    const char *holder = json_string_value(json_object_get(p->used, k));
    if (holder) {
        return strcmp(holder, owner) == 0 ? 0 : COMPILE_ECONFLICT;
    }
    if (pool_note(p, owner) != 0) {
        return COMPILE_ENOMEM;
    }
    pool_release(p, owner);
    if (json_object_set_new(p->used, k, json_string(owner)) != 0 ||
        json_object_set_new(p->owner, owner, json_integer((json_int_t)n)) != 0) {
        return COMPILE_ENOMEM;
    }
    while (p->next <= p->last && pool_used(p, p->next)) {
        p->next++;
    }
    return 0;
}

/* Gives 'owner' number 'want' (0: keep the one it holds, else the lowest
 * free). */
static int pool_get(struct pool *p, const char *owner, uint64_t want, uint64_t *out)
{
    json_t *cur = json_object_get(p->owner, owner);
    if (want == 0 && cur) {
        *out = (uint64_t)json_integer_value(cur);
        return 0;
    }
    if (want == 0) {
        if (p->next > p->last) {
            return COMPILE_EEXHAUSTED;
        }
        want = p->next;
    }
    int rc = pool_claim(p, owner, want);
    if (rc == 0) {
        *out = want;
    }
    return rc;
}

static void pool_destroy(struct pool *p)
{
    json_decref(p->owner);
    json_decref(p->used);
    json_decref(p->journal);
}

/* Undoes every change the journal noted and stops journaling. */
static void pool_rollback(struct pool *p)
{
    const char *owner;
    json_t *v;
    char k[24];
    if (!p->journal) {
        return;
    }
    /* drop what the noted owners hold now, then give back what they held */
    json_object_foreach(p->journal, owner, v) {
        json_t *cur = json_object_get(p->owner, owner);
        if (cur) {
            snprintf(k, sizeof k, "%llu", (unsigned long long)json_integer_value(cur));
            json_object_del(p->used, k);
            json_object_del(p->owner, owner);
        }
    }
    json_object_foreach(p->journal, owner, v) {
        json_int_t n = json_integer_value(v);
        if (n > 0) {
            snprintf(k, sizeof k, "%llu", (unsigned long long)n);
            (void)json_object_set_new(p->used, k, json_string(owner));
            (void)json_object_set_new(p->owner, owner, json_integer(n));
        }
    }
    p->next = p->saved_next;
    json_decref(p->journal);
    p->journal = NULL;
}

/* The noted owners' numbers when the journal began ('then') and now
 * ('now'), absent ones left out. */
static int pool_changes(const struct pool *p, json_t *then, json_t *now)
{
    const char *owner;
    json_t *v;
    json_object_foreach(p->journal, owner, v) {
        json_t *cur = json_object_get(p->owner, owner);
        if ((json_integer_value(v) > 0 && json_object_set(then, owner, v) != 0) ||
            (cur && json_object_set(now, owner, cur) != 0)) {
            return COMPILE_ENOMEM;
        }
    }
    return 0;
}

/* Notes network 'vn''s service-target index entry before its first change
 * in a journal. */
static int svc_note(struct compile_alloc *a, const char *vn)
{
    if (!a->svc_journal || json_object_get(a->svc_journal, vn)) {
        return 0;
    }
    json_t *cur = json_object_get(a->svc, vn);
    json_t *copy = cur ? json_copy(cur) : json_null();
    if (!copy || json_object_set_new(a->svc_journal, vn, copy) != 0) {
        a->broken = true;
        return COMPILE_ENOMEM;
    }
    return 0;
}

int compile_alloc_create(struct compile_alloc **out)
{
    struct compile_alloc *a = calloc(1, sizeof *a);
    if (!a) {
        return COMPILE_ENOMEM;
    }
    a->svc = json_object();
    if (!a->svc || pool_init(&a->rt, COMPILE_RT_FIRST, COMPILE_RT_LAST) != 0 ||
        pool_init(&a->vni, COMPILE_VNI_FIRST, COMPILE_VNI_LAST) != 0) {
        compile_alloc_free(a);
        return COMPILE_ENOMEM;
    }
    *out = a;
    return 0;
}

void compile_alloc_free(struct compile_alloc *a)
{
    if (!a) {
        return;
    }
    pool_destroy(&a->rt);
    pool_destroy(&a->vni);
    json_decref(a->svc);
    json_decref(a->svc_journal);
    free(a);
}

static int pool_load(struct pool *p, const json_t *state)
{
    const char *owner;
    json_t *v;
    json_object_foreach((json_t *)state, owner, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            return COMPILE_EINVAL;
        }
        int rc = pool_claim(p, owner, (uint64_t)json_integer_value(v));
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int compile_alloc_load(struct compile_alloc *a, const json_t *state)
{
    int rc;
    if (!state) {
        return 0;
    }
    if (!json_is_object(state)) {
        return COMPILE_EINVAL;
    }
    if ((rc = pool_load(&a->rt, json_object_get(state, "route_target"))) != 0) {
        return rc;
    }
    const char *owner;
    json_t *v;
    json_object_foreach(a->rt.owner, owner, v) {
        const char *slash = strchr(owner, '/');
        char vn[64];
        if (slash && (size_t)(slash - owner) < sizeof vn) {
            memcpy(vn, owner, (size_t)(slash - owner));
            vn[slash - owner] = '\0';
            if ((rc = index_add(a->svc, vn, owner)) != 0) {
                return rc;
            }
        }
    }
    return pool_load(&a->vni, json_object_get(state, "vni"));
}

/* Undoes a journal's changes (if one is running) and stops journaling. */
static void compile_alloc_rollback_quiet(struct compile_alloc *a)
{
    pool_rollback(&a->rt);
    pool_rollback(&a->vni);
    if (a->svc_journal) {
        const char *vn;
        json_t *v;
        json_object_foreach(a->svc_journal, vn, v) {
            if (json_is_null(v)) {
                json_object_del(a->svc, vn);
            } else {
                (void)json_object_set(a->svc, vn, v);
            }
        }
        json_decref(a->svc_journal);
        a->svc_journal = NULL;
    }
}

int compile_alloc_begin(struct compile_alloc *a)
{
    compile_alloc_rollback_quiet(a);
    a->rt.journal = json_object();
    a->vni.journal = json_object();
    a->svc_journal = json_object();
    a->rt.saved_next = a->rt.next;
    a->vni.saved_next = a->vni.next;
    a->rt.lost = a->vni.lost = a->broken = false;
    if (!a->rt.journal || !a->vni.journal || !a->svc_journal) {
        compile_alloc_rollback_quiet(a);
        return COMPILE_ENOMEM;
    }
    return 0;
}

int compile_alloc_changes(const struct compile_alloc *a, json_t **then, json_t **now)
{
    *then = json_pack("{s:{},s:{}}", "route_target", "vni");
    *now = json_pack("{s:{},s:{}}", "route_target", "vni");
    int rc = *then && *now && a->rt.journal && a->vni.journal && !a->rt.lost && !a->vni.lost &&
                     !a->broken
                 ? 0
                 : COMPILE_ENOMEM;
    rc = rc ? rc : pool_changes(&a->rt, json_object_get(*then, "route_target"),
                                json_object_get(*now, "route_target"));
    rc = rc ? rc : pool_changes(&a->vni, json_object_get(*then, "vni"), json_object_get(*now, "vni"));
    if (rc) {
        json_decref(*then);
        json_decref(*now);
        *then = *now = NULL;
    }
    return rc;
}

int compile_alloc_rollback(struct compile_alloc *a)
{
    bool ok = !a->rt.lost && !a->vni.lost && !a->broken;
    compile_alloc_rollback_quiet(a);
    return ok ? 0 : COMPILE_ENOMEM;
}

int compile_alloc_set(struct compile_alloc *a, bool rt, const char *owner, uint64_t n)
{
    struct pool *p = rt ? &a->rt : &a->vni;
    char k[24];
    snprintf(k, sizeof k, "%llu", (unsigned long long)n);
    const char *holder = json_string_value(json_object_get(p->used, k));
    if (holder && strcmp(holder, owner) != 0) {
        compile_alloc_unset(a, rt, n);
    }
    const char *slash = rt ? strchr(owner, '/') : NULL;
    char vn[64];
    if (slash && (size_t)(slash - owner) >= sizeof vn) {
        return COMPILE_EINVAL;
    }
    int rc = pool_claim(p, owner, n);
    if (rc == 0 && slash) {
        memcpy(vn, owner, (size_t)(slash - owner));
        vn[slash - owner] = '\0';
        rc = index_add(a->svc, vn, owner);
    }
    return rc;
}

int compile_alloc_claim(struct compile_alloc *a, bool rt, const char *owner, uint64_t n)
{
    const char *slash = rt ? strchr(owner, '/') : NULL;
    char vn[64];
    if (slash && (size_t)(slash - owner) >= sizeof vn) {
        return COMPILE_EINVAL;
    }
    int rc = pool_claim(rt ? &a->rt : &a->vni, owner, n);
    if (rc == 0 && slash) {
        memcpy(vn, owner, (size_t)(slash - owner));
        vn[slash - owner] = '\0';
        rc = svc_note(a, vn);
        rc = rc ? rc : index_add(a->svc, vn, owner);
    }
    return rc;
}

void compile_alloc_unset(struct compile_alloc *a, bool rt, uint64_t n)
{
    struct pool *p = rt ? &a->rt : &a->vni;
    char k[24];
    snprintf(k, sizeof k, "%llu", (unsigned long long)n);
    const char *h = json_string_value(json_object_get(p->used, k));
    char *holder = h ? strdup(h) : NULL;
    if (!holder) {
        if (h) {
            p->lost = true; /* out of memory: the state is no longer the image's */
        }
        return;
    }
    pool_release(p, holder);
    const char *slash = rt ? strchr(holder, '/') : NULL;
    if (slash) {
        char vn[64];
        size_t len = (size_t)(slash - holder);
        if (len < sizeof vn) {
            memcpy(vn, holder, len);
            vn[len] = '\0';
            index_del(a->svc, vn, holder);
        }
    }
    free(holder);
}

json_t *compile_alloc_dump(const struct compile_alloc *a)
{
    return json_pack("{s:O,s:O}", "route_target", a->rt.owner, "vni", a->vni.owner);
}

uint32_t compile_alloc_rt(const struct compile_alloc *a, const char *owner)
{
    return (uint32_t)json_integer_value(json_object_get(a->rt.owner, owner));
}

uint32_t compile_alloc_vni(const struct compile_alloc *a, const char *owner)
{
    return (uint32_t)json_integer_value(json_object_get(a->vni.owner, owner));
}

/* ---- identity ----------------------------------------------------------- */

int compile_uuid(const char *type, const json_t *fq_name, char out[37])
{
    wc_Sha256 sha;
    uint8_t h[WC_SHA256_DIGEST_SIZE];
    size_t i;
    const json_t *e;
    if (wc_InitSha256(&sha) != 0) {
        return COMPILE_ENOMEM;
    }
    int rc = wc_Sha256Update(&sha, (const byte *)type, (word32)strlen(type));
    json_array_foreach(fq_name, i, e) {
        const char *s = json_string_value(e);
        if (!s) {
            rc = COMPILE_EINVAL;
            break;
        }
        rc |= wc_Sha256Update(&sha, (const byte *)"\x1f", 1);
        rc |= wc_Sha256Update(&sha, (const byte *)s, (word32)strlen(s));
    }
    if (rc == 0) {
        rc = wc_Sha256Final(&sha, h);
    }
    wc_Sha256Free(&sha);
    if (rc != 0) {
        return rc == COMPILE_EINVAL ? rc : COMPILE_ENOMEM;
    }
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
             h[14], h[15]);
    return 0;
}

const char *compile_owner(const json_t *obj)
{
    return str_of(json_array_get(json_object_get(obj, "derived_from"), 0), "uuid");
}

static json_t *source_ref(const char *type, const json_t *obj)
{
    return json_pack("{s:s,s:s,s:O}", "type", type, "uuid", str_of(obj, "uuid"), "fq_name",
                     json_object_get(obj, "fq_name"));
}

/* fq_name of 'parent' plus 'name', a new array. */
static json_t *fq_child(const json_t *parent, const char *name)
{
    json_t *fq = json_copy(json_object_get(parent, "fq_name"));
    if (fq && json_array_append_new(fq, json_string(name)) != 0) {
        json_decref(fq);
        return NULL;
    }
    return fq;
}

/* A derived object of 'type' named 'fq' (takes ownership) under parent
 * 'parent' of 'parent_type' (NULL: config-root), with 'derived_from'
 * (takes ownership; NULL: none). Stored into 'out'; '*obj' (may be NULL)
 * gets it, borrowed, for the caller to add properties. */
static int derived_new(json_t *out, const char *type, json_t *fq, const char *parent_type,
                       const json_t *parent, json_t *derived_from, json_t **obj)
{
    char uuid[37], key[128];
    int rc = COMPILE_ENOMEM;
    json_t *o = NULL;
    if (!fq) {
        goto err_fq;
    }
    if ((rc = compile_uuid(type, fq, uuid)) != 0) {
        goto err_fq;
    }
    o = json_pack("{s:s,s:O,s:O}", "uuid", uuid, "fq_name", fq, "name",
                  json_array_get(fq, json_array_size(fq) - 1));
    if (!o) {
        rc = COMPILE_ENOMEM;
        goto err_fq;
    }
    if (parent) {
        json_object_set_new(o, "parent_type", json_string(parent_type));
        json_object_set(o, "parent_uuid", json_object_get(parent, "uuid"));
    } else {
        json_object_set_new(o, "parent_type", json_string("config-root"));
    }
    if (derived_from) {
        json_object_set(o, "derived_from", derived_from);
    }
    snprintf(key, sizeof key, "%s/%s", type, uuid);
    if (json_object_set(out, key, o) != 0) {
        rc = COMPILE_ENOMEM;
        goto err_fq;
    }
    if (obj) {
        *obj = o;
    }
    rc = 0;
err_fq:
    json_decref(o);
    json_decref(fq);
    json_decref(derived_from);
    return rc;
}

/* ---- rules -> ACL entries ---------------------------------------------- */

struct expand {
    const json_t *owner;     /* the network or security group the ACL is for */
    char owner_fq[FQ_STR_MAX];
    const json_t *pol;       /* the policy or security group holding the rule */
    bool sg;                 /* security-group semantics */
    json_t *entries;         /* acl_rule array being filled */
    json_t *egress;          /* security groups: the egress entries */
};

/* A copy of address 'a' with "local" and relative names resolved. */
static json_t *addr_resolve(const struct expand *x, const json_t *a)
{
    json_t *c = json_deep_copy(a);
    const char *vn = str_of(a, "virtual_network");
    const char *sg = str_of(a, "security_group");
    char fq[FQ_STR_MAX];
    if (!c) {
        return NULL;
    }
    if (vn) {
        if (strcmp(vn, "local") == 0 && !x->sg) {
            json_object_set_new(c, "virtual_network", json_string(x->owner_fq));
        } else if (vn_name_resolve(x->pol, vn, fq, sizeof fq) == 0) {
            json_object_set_new(c, "virtual_network", json_string(fq));
        }
    }
    if (sg && strcmp(sg, "local") == 0) {
        /* In a policy "local" has no group; in a group it is the group. */
        json_object_set_new(c, "security_group", json_string(x->owner_fq));
    }
    return c;
}

/* True when address 'a' (resolved) names a network other than the owner. */
static bool addr_other_vn(const struct expand *x, const json_t *a)
{
    const char *vn = str_of(a, "virtual_network");
    return vn && strcmp(vn, "any") != 0 && strcmp(vn, x->owner_fq) != 0;
}

static bool addr_local_sg(const json_t *a)
{
    const char *sg = str_of(a, "security_group");
    return sg && strcmp(sg, "local") == 0;
}

static json_t *any_addr(bool sg)
{
    return sg ? json_pack("{s:{s:s,s:i}}", "subnet", "ip_prefix", "0.0.0.0", "ip_prefix_len", 0)
              : json_pack("{s:s}", "virtual_network", "any");
}

static int entry_add(json_t *entries, const json_t *rule, const json_t *action, const char *rule_uuid,
                     const char *dir, const json_t *s, const json_t *sp, const json_t *d,
                     const json_t *dp)
{
    const char *eth = str_of(rule, "ethertype");
    json_t *e = json_pack("{s:{s:s,s:s,s:O,s:O,s:O,s:O},s:O,s:s}", "match_condition", "protocol",
                          str_of(rule, "protocol") ? str_of(rule, "protocol") : "any", "ethertype",
                          eth ? eth : "IPv4", "src_address", s, "src_port", sp, "dst_address", d,
                          "dst_port", dp, "action_list", action, "rule_uuid", rule_uuid);
    if (!e) {
        return COMPILE_ENOMEM;
    }
    if (dir) {
        json_object_set_new(e, "direction", json_string(dir));
    }
    if (json_array_size(entries) >= COMPILE_ACL_RULES_MAX) {
        json_decref(e);
        return COMPILE_ETOOLARGE;
    }
    return json_array_append_new(entries, e) == 0 ? 0 : COMPILE_ENOMEM;
}

/* The action of 'rule' with service names resolved, a new object. */
static json_t *action_resolve(const struct expand *x, const json_t *rule)
{
    const json_t *al = json_object_get(rule, "action_list");
    json_t *a = al ? json_deep_copy(al) : json_pack("{s:s}", "simple_action", "deny");
    json_t *svc = json_object_get(a, "apply_service");
    size_t i;
    json_t *s;
    json_array_foreach(svc, i, s) {
        char fq[FQ_STR_MAX];
        const char *name = json_string_value(s);
        if (name && vn_name_resolve(x->pol, name, fq, sizeof fq) == 0) {
            json_array_set_new(svc, i, json_string(fq));
        }
    }
    return a;
}

/* Expands rule 'idx' of x->pol into x->entries (and x->egress). */
static int rule_expand(struct expand *x, size_t idx, const json_t *rule)
{
    int rc = 0;
    char ru[37];
    const char *given = str_of(rule, "rule_uuid");
    if (!given) {
        char n[24];
        snprintf(n, sizeof n, "%zu", idx);
        json_t *fq = json_pack("[s,s]", str_of(x->pol, "uuid"), n);
        rc = fq ? compile_uuid("policy-rule", fq, ru) : COMPILE_ENOMEM;
        json_decref(fq);
        if (rc != 0) {
            return rc;
        }
        given = ru;
    }
    const char *dirs = str_of(rule, "direction");
    bool both = dirs && strcmp(dirs, "<>") == 0;
    json_t *src = json_object_get(rule, "src_addresses");
    json_t *dst = json_object_get(rule, "dst_addresses");
    json_t *sps = json_object_get(rule, "src_ports");
    json_t *dps = json_object_get(rule, "dst_ports");
    json_t *anya = any_addr(x->sg);
    json_t *anyp = json_pack("{s:i,s:i}", "start_port", -1, "end_port", -1);
    json_t *action = action_resolve(x, rule);
    if (!anya || !anyp || !action) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    size_t ns = json_array_size(src) ? json_array_size(src) : 1;
    size_t nd = json_array_size(dst) ? json_array_size(dst) : 1;
    size_t nsp = json_array_size(sps) ? json_array_size(sps) : 1;
    size_t ndp = json_array_size(dps) ? json_array_size(dps) : 1;
    for (size_t i = 0; i < ns && rc == 0; i++) {
        const json_t *sa = json_array_size(src) ? json_array_get(src, i) : anya;
        for (size_t j = 0; j < nd && rc == 0; j++) {
            const json_t *da = json_array_size(dst) ? json_array_get(dst, j) : anya;
            json_t *target = x->entries;
            const char *dir = NULL;
            if (x->sg) {
                if (addr_local_sg(da)) {
                    dir = "ingress";
                } else if (addr_local_sg(sa)) {
                    dir = "egress";
                    target = x->egress;
                } else {
                    continue; /* a group rule must have the group on one side */
                }
            }
            json_t *s = addr_resolve(x, sa), *d = addr_resolve(x, da);
            if (!s || !d) {
                rc = COMPILE_ENOMEM;
            } else if (!x->sg && addr_other_vn(x, s) && addr_other_vn(x, d)) {
                /* neither end is this network */
            } else {
                for (size_t k = 0; k < nsp && rc == 0; k++) {
                    const json_t *sp = json_array_size(sps) ? json_array_get(sps, k) : anyp;
                    for (size_t l = 0; l < ndp && rc == 0; l++) {
                        const json_t *dp = json_array_size(dps) ? json_array_get(dps, l) : anyp;
                        rc = entry_add(target, rule, action, given, dir, s, sp, d, dp);
                        if (rc == 0 && both) {
                            rc = entry_add(target, rule, action, given, dir, d, dp, s, sp);
                        }
                    }
                }
            }
            json_decref(s);
            json_decref(d);
        }
    }
out:
    json_decref(anya);
    json_decref(anyp);
    json_decref(action);
    return rc;
}

static int rules_expand(struct expand *x, const json_t *entries_prop)
{
    size_t i;
    const json_t *rule;
    json_array_foreach(json_object_get(entries_prop, "policy_rule"), i, rule) {
        int rc = rule_expand(x, i, rule);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int acl_emit(json_t *out, const json_t *parent, const char *parent_type, const char *name,
                    json_t *entries, json_t *derived_from)
{
    json_t *acl = NULL;
    int rc = derived_new(out, "access-control-list", fq_child(parent, name), parent_type, parent,
                         derived_from, &acl);
    if (rc != 0) {
        return rc;
    }
    json_object_set_new(acl, "access_control_list_entries",
                        json_pack("{s:b,s:O}", "dynamic", 0, "acl_rule", entries));
    return 0;
}

/* ---- virtual networks -------------------------------------------------- */

struct attached {
    const json_t *pol;
    long long major, minor;
    bool has_seq;
    char fq[FQ_STR_MAX];
};

static int attached_cmp(const void *a, const void *b)
{
    const struct attached *x = a, *y = b;
    if (x->has_seq != y->has_seq) {
        return x->has_seq ? -1 : 1;
    }
    if (x->major != y->major) {
        return x->major < y->major ? -1 : 1;
    }
    if (x->minor != y->minor) {
        return x->minor < y->minor ? -1 : 1;
    }
    return strcmp(x->fq, y->fq);
}

/* The policies attached to network 'vn' present in 'm', in order; '*len'
 * gets their count. NULL with *len == 0 when none (or out of memory:
 * COMPILE_ENOMEM in '*rc'). */
static struct attached *vn_policies(const struct compile_model *m, const json_t *vn, size_t *len,
                                    int *rc)
{
    const json_t *refs = json_object_get(vn, "network_policy_refs");
    size_t i, n = 0;
    const json_t *ref;
    *len = 0;
    *rc = 0;
    if (json_array_size(refs) == 0) {
        return NULL;
    }
    struct attached *v = calloc(json_array_size(refs), sizeof *v);
    if (!v) {
        *rc = COMPILE_ENOMEM;
        return NULL;
    }
    json_array_foreach(refs, i, ref) {
        const char *type;
        const json_t *pol = compile_model_get(m, str_of(ref, "uuid") ? str_of(ref, "uuid") : "", &type);
        if (!pol || strcmp(type, "network-policy") != 0) {
            continue;
        }
        const json_t *seq = json_object_get(json_object_get(ref, "attr"), "sequence");
        v[n].pol = pol;
        v[n].has_seq = seq != NULL;
        v[n].major = json_integer_value(json_object_get(seq, "major"));
        v[n].minor = json_integer_value(json_object_get(seq, "minor"));
        if (fq_join(json_object_get(pol, "fq_name"), ':', v[n].fq, sizeof v[n].fq) != 0) {
            continue;
        }
        n++;
    }
    qsort(v, n, sizeof *v, attached_cmp);
    *len = n;
    return v;
}

/* Adds to 'peers' (a set of fq strings) every network that a pass rule
 * without services in 'pol' connects with network 'self' (fq string). */
static void policy_peers(const json_t *pol, const char *self, json_t *peers)
{
    const json_t *rules = json_object_get(json_object_get(pol, "network_policy_entries"), "policy_rule");
    size_t i, j, k;
    const json_t *rule, *sa, *da;
    json_array_foreach(rules, i, rule) {
        const json_t *al = json_object_get(rule, "action_list");
        const char *act = str_of(al, "simple_action");
        if (!act || strcmp(act, "pass") != 0 || json_array_size(json_object_get(al, "apply_service"))) {
            continue;
        }
        json_array_foreach(json_object_get(rule, "src_addresses"), j, sa) {
            json_array_foreach(json_object_get(rule, "dst_addresses"), k, da) {
                const char *sn = str_of(sa, "virtual_network"), *dn = str_of(da, "virtual_network");
                char sfq[FQ_STR_MAX], dfq[FQ_STR_MAX];
                if (!sn || !dn) {
                    continue;
                }
                int sr = vn_name_resolve(pol, sn, sfq, sizeof sfq);
                int dr = vn_name_resolve(pol, dn, dfq, sizeof dfq);
                bool s_self = strcmp(sn, "local") == 0 || (sr == 0 && strcmp(sfq, self) == 0);
                bool d_self = strcmp(dn, "local") == 0 || (dr == 0 && strcmp(dfq, self) == 0);
                if (s_self && dr == 0 && strcmp(dfq, self) != 0) {
                    json_object_set_new(peers, dfq, json_true());
                }
                if (d_self && sr == 0 && strcmp(sfq, self) != 0) {
                    json_object_set_new(peers, sfq, json_true());
                }
            }
        }
    }
}

/* The set of networks the policies attached to 'vn' allow it to connect to. */
static json_t *vn_allowed(const struct compile_model *m, const json_t *vn, int *rc)
{
    char self[FQ_STR_MAX];
    size_t n;
    json_t *peers = json_object();
    if (!peers || (*rc = fq_join(json_object_get(vn, "fq_name"), ':', self, sizeof self)) != 0) {
        json_decref(peers);
        *rc = *rc ? *rc : COMPILE_ENOMEM;
        return NULL;
    }
    struct attached *pols = vn_policies(m, vn, &n, rc);
    for (size_t i = 0; i < n; i++) {
        policy_peers(pols[i].pol, self, peers);
    }
    free(pols);
    if (*rc != 0) {
        json_decref(peers);
        return NULL;
    }
    return peers;
}

static json_int_t gsc_asn(const struct compile_model *m)
{
    const json_t *g = m->gsc[0] ? compile_model_get(m, m->gsc, NULL) : NULL;
    json_t *asn = json_object_get(g, "autonomous_system");
    return json_is_integer(asn) ? json_integer_value(asn) : COMPILE_DEFAULT_ASN;
}

static json_t *rt_fq(const struct compile_model *m, uint32_t n)
{
    char t[64];
    snprintf(t, sizeof t, "target:%lld:%u", (long long)gsc_asn(m), n);
    return json_pack("[s]", t);
}

static int import_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static const char **sorted_keys(const json_t *set, size_t *len);

/* ---- service chains ------------------------------------------------------- *
 *
 * A pass rule with services [S1..Sn] in a policy attached to both A (source
 * side) and B (destination side) chains them. For each service Sk there is
 * a routing instance under A, L_k = (A, Sk), and one under B, R_k = (B,
 * Sk), named "service-<Sk fq_name joined by '_'>", each with its own route
 * target (owner "<network uuid>/<service uuid>"). Routes of B leak to A
 * through the services: R_n imports B's target; L_k re-originates R_k's
 * routes with the service as next hop (service_chain_information: the
 * control node's job, with a new label); R_{k-1} imports L_k's target; A's
 * default instance imports L_1's. The reverse path is symmetric: L_1
 * imports A's target, R_k re-originates L_k, L_{k+1} imports R_k, B's
 * default instance imports R_n. A (network, service) pair in several
 * chains is one instance with the union of the imports. */

#define CHAIN_MAX 16

struct chain {
    const json_t *pol;
    const json_t *other;  /* the network at the other end */
    bool self_src;        /* the compiled network is the source */
    size_t n;
    const json_t *si[CHAIN_MAX];
};

typedef int (*chain_fn)(void *arg, const struct chain *c);

static bool pol_attached(const struct compile_model *m, const json_t *pol, const char *vn_uuid)
{
    return json_object_get(json_object_get(m->pol_vns, str_of(pol, "uuid")), vn_uuid) != NULL;
}

/* Calls 'fn' for every chain network 'vn' (fq ':' string 'self') is an end of. */
static int vn_chains(const struct compile_model *m, const json_t *vn, const char *self, chain_fn fn,
                     void *arg)
{
    size_t npol;
    int rc;
    struct attached *pols = vn_policies(m, vn, &npol, &rc);
    for (size_t p = 0; p < npol && rc == 0; p++) {
        const json_t *pol = pols[p].pol;
        const json_t *rules = json_object_get(json_object_get(pol, "network_policy_entries"), "policy_rule");
        size_t i, j, k;
        const json_t *rule, *sa, *da, *svc;
        json_array_foreach(rules, i, rule) {
            const json_t *al = json_object_get(rule, "action_list");
            const json_t *svcs = json_object_get(al, "apply_service");
            const char *act = str_of(al, "simple_action");
            struct chain c = {.pol = pol};
            if (!act || strcmp(act, "pass") != 0 || json_array_size(svcs) == 0 ||
                json_array_size(svcs) > CHAIN_MAX) {
                continue;
            }
            json_array_foreach(svcs, j, svc) {
                char fq[FQ_STR_MAX];
                const char *name = json_string_value(svc);
                const char *su;
                if (!name) {
                    break;
                }
                (void)vn_name_resolve(pol, name, fq, sizeof fq);
                su = name_get(m, m->si_names, "service-instance", fq);
                if (!su) {
                    break;
                }
                c.si[c.n++] = compile_model_get(m, su, NULL);
            }
            if (c.n != json_array_size(svcs)) {
                continue; /* a service instance is missing: no chain */
            }
            json_array_foreach(json_object_get(rule, "src_addresses"), j, sa) {
                json_array_foreach(json_object_get(rule, "dst_addresses"), k, da) {
                    const char *sn = str_of(sa, "virtual_network"), *dn = str_of(da, "virtual_network");
                    char sfq[FQ_STR_MAX], dfq[FQ_STR_MAX];
                    if (!sn || !dn) {
                        continue;
                    }
                    if (vn_name_resolve(pol, sn, sfq, sizeof sfq) == 1) {
                        snprintf(sfq, sizeof sfq, "%s", strcmp(sn, "local") == 0 ? self : "");
                    }
                    if (vn_name_resolve(pol, dn, dfq, sizeof dfq) == 1) {
                        snprintf(dfq, sizeof dfq, "%s", strcmp(dn, "local") == 0 ? self : "");
                    }
                    bool s_self = strcmp(sfq, self) == 0, d_self = strcmp(dfq, self) == 0;
                    if (s_self == d_self) {
                        continue;
                    }
                    const char *ou = name_get(m, m->vn_names, "virtual-network", s_self ? dfq : sfq);
                    if (!ou || !pol_attached(m, pol, ou)) {
                        continue;
                    }
                    c.other = compile_model_get(m, ou, NULL);
                    c.self_src = s_self;
                    if ((rc = fn(arg, &c)) != 0) {
                        goto out;
                    }
                }
            }
        }
    }
out:
    free(pols);
    return rc;
}

struct chain_ctx {
    const struct compile_model *m;
    struct compile_alloc *a;
    const json_t *vn;
    char self[FQ_STR_MAX];
    json_t *owners;   /* allocation: owners in use */
    json_t *imports;  /* compile: default instance imports, decimal -> true */
    json_t *sris;     /* compile: instance name -> {si, pol, imports, sci} */
};

static void svc_owner(const json_t *vn, const json_t *si, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", str_of(vn, "uuid"), str_of(si, "uuid"));
}

static int svc_ri_name(const json_t *si, char *out, size_t size)
{
    static const char prefix[] = "service-";
    memcpy(out, prefix, sizeof prefix);
    return fq_join(json_object_get(si, "fq_name"), '_', out + sizeof prefix - 1, size - sizeof prefix + 1);
}

/* The fq ':' string of instance 'ri' (NULL: the default one) of 'vn'. */
static int ri_fq_str(const json_t *vn, const json_t *si, char *out, size_t size)
{
    char vfq[FQ_STR_MAX], name[FQ_STR_MAX];
    int rc = fq_join(json_object_get(vn, "fq_name"), ':', vfq, sizeof vfq);
    if (rc == 0 && si) {
        rc = svc_ri_name(si, name, sizeof name);
    } else if (rc == 0) {
        snprintf(name, sizeof name, "%s", str_of(vn, "name") ? str_of(vn, "name") : "");
    }
    if (rc == 0 && (size_t)snprintf(out, size, "%s:%s", vfq, name) >= size) {
        rc = COMPILE_ETOOLARGE;
    }
    return rc;
}

static int chain_alloc(void *arg, const struct chain *c)
{
    struct chain_ctx *x = arg;
    for (size_t k = 0; k < c->n; k++) {
        char owner[160];
        uint64_t n;
        svc_owner(x->vn, c->si[k], owner, sizeof owner);
        int rc = pool_get(&x->a->rt, owner, 0, &n);
        if (rc != 0 || (rc = set_add(x->owners, owner)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int import_add(json_t *set, uint32_t n)
{
    char k[24];
    if (n == 0) {
        return 0; /* not allocated (yet): the other end's compile adds it */
    }
    snprintf(k, sizeof k, "%u", n);
    return set_add(set, k);
}

static uint32_t svc_rt(const struct compile_alloc *a, const json_t *vn, const json_t *si)
{
    char owner[160];
    svc_owner(vn, si, owner, sizeof owner);
    return compile_alloc_rt(a, owner);
}

/* Version 2 service chain information of instance 'si' into 'sci': the
 * service mode of its template and the interfaces of its port tuples (in
 * port-tuple fq_name, then interface uuid order), so a change of the
 * template or of a port tuple recompiles the chain. */
static int sci_v2(const struct compile_model *m, const json_t *si, json_t *sci)
{
    const json_t *refs = json_object_get(si, "service_template_refs");
    const char *tu = str_of(json_array_get(refs, 0), "uuid");
    const char *type = NULL;
    const json_t *st = tu ? compile_model_get(m, tu, &type) : NULL;
    const char *mode = st && strcmp(type, "service-template") == 0
                           ? str_of(json_object_get(st, "service_template_properties"), "service_mode")
                           : NULL;
    if (mode && json_object_set_new(sci, "service_mode", json_string(mode)) != 0) {
        return COMPILE_ENOMEM;
    }
    /* port tuples by fq_name: "<fq ':'>\x1f<uuid>" sorts by name first */
    json_t *byname = json_object(), *ifs = json_array();
    const char *k;
    json_t *v;
    int rc = byname && ifs ? 0 : COMPILE_ENOMEM;
    json_object_foreach((json_t *)members(m, m->si_pts, str_of(si, "uuid"), "ch", "port-tuple"), k, v) {
        const json_t *pt = rc == 0 ? compile_model_get(m, k, NULL) : NULL;
        char ptfq[FQ_STR_MAX], key[FQ_STR_MAX + 64];
        if (pt && fq_join(json_object_get(pt, "fq_name"), ':', ptfq, sizeof ptfq) == 0) {
            snprintf(key, sizeof key, "%s\x1f%s", ptfq, k);
            rc = set_add(byname, key);
        }
    }
    size_t npt = 0;
    const char **pts = rc == 0 ? sorted_keys(byname, &npt) : NULL;
    rc = rc ? rc : pts ? 0 : COMPILE_ENOMEM;
    for (size_t i = 0; i < npt && rc == 0; i++) {
        const char *sep = strrchr(pts[i], '\x1f');
        char ptfq[FQ_STR_MAX];
        snprintf(ptfq, sizeof ptfq, "%.*s", (int)(sep - pts[i]), pts[i]);
        size_t nv = 0;
        const char **vmis =
            sorted_keys(members(m, m->pt_vmis, sep + 1, "br", "virtual-machine-interface"), &nv);
        rc = vmis ? 0 : COMPILE_ENOMEM;
        for (size_t j = 0; j < nv && rc == 0; j++) {
            const json_t *vmi = compile_model_get(m, vmis[j], NULL);
            if (!vmi) {
                continue;
            }
            const char *it = str_of(json_object_get(vmi, "virtual_machine_interface_properties"),
                                    "service_interface_type");
            json_t *row = json_pack("{s:s,s:s}", "port_tuple", ptfq, "virtual_machine_interface",
                                    vmis[j]);
            if (row && it) {
                json_object_set_new(row, "interface_type", json_string(it));
            }
            if (!row || json_array_append_new(ifs, row) != 0) {
                rc = COMPILE_ENOMEM;
            }
        }
        free(vmis);
    }
    if (rc == 0 && json_array_size(ifs) > 0 && json_object_set(sci, "service_interfaces", ifs) != 0) {
        rc = COMPILE_ENOMEM;
    }
    free(pts);
    json_decref(byname);
    json_decref(ifs);
    return rc;
}

static int chain_visit(void *arg, const struct chain *c)
{
    struct chain_ctx *x = arg;
    const char *me = str_of(x->vn, "uuid");
    int rc = 0;
    for (size_t k = 0; k < c->n && rc == 0; k++) {
        char name[FQ_STR_MAX], peer[FQ_STR_MAX], sifq[FQ_STR_MAX], deffq[FQ_STR_MAX];
        if ((rc = svc_ri_name(c->si[k], name, sizeof name)) != 0 ||
            (rc = ri_fq_str(c->other, c->si[k], peer, sizeof peer)) != 0 ||
            (rc = ri_fq_str(x->vn, NULL, deffq, sizeof deffq)) != 0 ||
            (rc = fq_join(json_object_get(c->si[k], "fq_name"), ':', sifq, sizeof sifq)) != 0) {
            return rc;
        }
        json_t *e = json_object_get(x->sris, name);
        if (!e) {
            e = json_pack("{s:O,s:O,s:{},s:{s:s,s:s,s:s}}", "si", c->si[k], "pol", c->pol, "imports",
                          "sci", "routing_instance", peer, "service_instance", sifq,
                          "source_routing_instance", deffq);
            if (!e || json_object_set_new(x->sris, name, e) != 0) {
                return COMPILE_ENOMEM;
            }
            if (x->m->version >= 2 && (rc = sci_v2(x->m, c->si[k], json_object_get(e, "sci"))) != 0) {
                return rc;
            }
        }
        json_t *imp = json_object_get(e, "imports");
        uint32_t from;
        if (c->self_src) {
            from = k == 0 ? compile_alloc_rt(x->a, me) : svc_rt(x->a, c->other, c->si[k - 1]);
        } else {
            from = k + 1 == c->n ? compile_alloc_rt(x->a, me) : svc_rt(x->a, c->other, c->si[k + 1]);
        }
        rc = import_add(imp, from);
    }
    if (rc == 0) {
        rc = import_add(x->imports, svc_rt(x->a, x->vn, c->si[c->self_src ? 0 : c->n - 1]));
    }
    return rc;
}

/* Route-target refs: the instance's own target 'own' and the numbers in
 * 'shared' (may be NULL; import and export, attr {}), then those in
 * 'imports' (import only), each in number order; a new array. */
static json_t *rt_refs(const struct compile_model *m, uint32_t own, const json_t *shared,
                       const json_t *imports)
{
    json_t *all = json_object();
    size_t n = 0;
    const char **keys = NULL;
    uint32_t *nums = NULL;
    json_t *refs = json_array();
    int rc = all && refs ? 0 : COMPILE_ENOMEM;
    if (rc == 0) {
        json_object_update(all, (json_t *)imports);
        if (shared) {
            json_object_update(all, (json_t *)shared);
        }
        keys = sorted_keys(all, &n);
        nums = calloc(n + 1, sizeof *nums);
        rc = keys && nums ? 0 : COMPILE_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        nums[i] = (uint32_t)strtoul(keys[i], NULL, 10);
    }
    if (rc == 0) {
        qsort(nums, n, sizeof *nums, import_cmp);
    }
    for (size_t i = 0; i <= n && rc == 0; i++) {
        uint32_t num = i == 0 ? own : nums[i - 1];
        char ruuid[37], key[24];
        if (i > 0 && num == own) {
            continue;
        }
        snprintf(key, sizeof key, "%u", num);
        bool both = i == 0 || (shared && json_object_get(shared, key));
        json_t *fq = rt_fq(m, num);
        if (!fq || (rc = compile_uuid("route-target", fq, ruuid)) != 0) {
            json_decref(fq);
            rc = rc ? rc : COMPILE_ENOMEM;
            break;
        }
        json_t *ref = both ? json_pack("{s:o,s:s,s:{}}", "to", fq, "uuid", ruuid, "attr")
                           : json_pack("{s:o,s:s,s:{s:s}}", "to", fq, "uuid", ruuid, "attr",
                                       "import_export", "import");
        if (!ref || json_array_append_new(refs, ref) != 0) {
            rc = COMPILE_ENOMEM;
        }
    }
    free(keys);
    free(nums);
    json_decref(all);
    if (rc != 0) {
        json_decref(refs);
        return NULL;
    }
    return refs;
}

/* The service instances and their targets of network 'vn' into 'out'. */
static int chains_emit(const struct compile_model *m, const struct compile_alloc *a, const json_t *vn,
                       json_t *sris, json_t *out)
{
    size_t n = 0;
    int rc = 0;
    const char **keys = sorted_keys(sris, &n);
    if (!keys) {
        return COMPILE_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_object_get(sris, keys[i]);
        const json_t *si = json_object_get(e, "si");
        uint32_t own = svc_rt(a, vn, si);
        json_t *rt = NULL, *ri = NULL, *refs;
        if (own == 0) {
            rc = COMPILE_EINVAL; /* vn_alloc() runs first */
            break;
        }
        json_t *dfv = json_pack("[o]", source_ref("virtual-network", vn));
        if ((rc = derived_new(out, "route-target", rt_fq(m, own), NULL, NULL, dfv, &rt)) != 0) {
            break;
        }
        refs = rt_refs(m, own, NULL, json_object_get(e, "imports"));
        json_t *df = json_pack("[o,o,o]", source_ref("virtual-network", vn),
                               source_ref("network-policy", json_object_get(e, "pol")),
                               source_ref("service-instance", si));
        if (!refs || (rc = derived_new(out, "routing-instance", fq_child(vn, keys[i]), "virtual-network",
                                       vn, df, &ri)) != 0) {
            json_decref(refs);
            rc = rc ? rc : COMPILE_ENOMEM;
            break;
        }
        json_object_set_new(ri, "routing_instance_is_default", json_false());
        json_object_set(ri, "service_chain_information", json_object_get(e, "sci"));
        json_object_set_new(ri, "route_target_refs", refs);
    }
    free(keys);
    return rc;
}

static void svc_release_all(struct compile_alloc *a, const char *vn, const json_t *keep)
{
    if (svc_note(a, vn) != 0) {
        return;
    }
    json_t *owned = json_object_get(a->svc, vn);
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(owned, tmp, k, v) {
        if (!keep || !json_object_get(keep, k)) {
            pool_release(&a->rt, k);
            json_object_del(owned, k);
        }
    }
    if (owned && json_object_size(owned) == 0) {
        json_object_del(a->svc, vn);
    }
}

static int vn_alloc_chains(const struct compile_model *m, struct compile_alloc *a, const json_t *vn)
{
    struct chain_ctx x = {.m = m, .a = a, .vn = vn};
    const char *uuid = str_of(vn, "uuid");
    int rc = fq_join(json_object_get(vn, "fq_name"), ':', x.self, sizeof x.self);
    x.owners = json_object();
    if (rc == 0 && !x.owners) {
        rc = COMPILE_ENOMEM;
    }
    if (rc == 0) {
        rc = vn_chains(m, vn, x.self, chain_alloc, &x);
    }
    if (rc == 0) {
        svc_release_all(a, uuid, x.owners);
        rc = svc_note(a, uuid);
        const char *k;
        json_t *v;
        json_object_foreach(x.owners, k, v) {
            if (rc) {
                break;
            }
            if ((rc = index_add(a->svc, uuid, k)) != 0) {
                break;
            }
        }
    }
    json_decref(x.owners);
    return rc;
}

/* Identifiers for network 'vn': the configured VNI ('configured') or the
 * held / lowest free ones, and the targets of its service instances
 * (releasing those it no longer has). */
static int vn_alloc(const struct compile_model *m, struct compile_alloc *a, const json_t *vn,
                    bool configured)
{
    const char *uuid = str_of(vn, "uuid");
    json_t *vx = json_object_get(json_object_get(vn, "virtual_network_properties"),
                                 "vxlan_network_identifier");
    uint64_t n;
    int rc;
    if (configured != json_is_integer(vx)) {
        return 0;
    }
    rc = pool_get(&a->vni, uuid, configured ? (uint64_t)json_integer_value(vx) : 0, &n);
    if (rc == 0) {
        rc = pool_get(&a->rt, uuid, 0, &n);
    }
    return rc == 0 && !configured ? vn_alloc_chains(m, a, vn) : rc;
}

static int vn_compile(const struct compile_model *m, struct compile_alloc *a, const json_t *vn,
                      json_t *out)
{
    const char *uuid = str_of(vn, "uuid");
    const char *name = str_of(vn, "name");
    const json_t *fq = json_object_get(vn, "fq_name");
    int rc;
    size_t npol = 0;
    struct attached *pols = NULL;
    json_t *entries = NULL, *df = NULL, *allowed = NULL, *ri = NULL, *refs = NULL;
    json_t *shared = NULL, *ridf = NULL;
    struct expand x = {.owner = vn};
    struct chain_ctx cx = {.m = m, .a = a, .vn = vn};

    if (!name) {
        name = json_string_value(json_array_get(fq, json_array_size(fq) - 1));
    }
    if (!name || (rc = fq_join(fq, ':', x.owner_fq, sizeof x.owner_fq)) != 0) {
        return COMPILE_EINVAL;
    }
    uint32_t rtn = compile_alloc_rt(a, uuid);
    if (rtn == 0 || compile_alloc_vni(a, uuid) == 0) {
        return COMPILE_EINVAL; /* vn_alloc() runs first */
    }
    json_t *dfv = json_pack("[o]", source_ref("virtual-network", vn));
    if ((rc = derived_new(out, "route-target", rt_fq(m, rtn), NULL, NULL, dfv, NULL)) != 0) {
        return rc;
    }

    pols = vn_policies(m, vn, &npol, &rc);
    entries = json_array();
    df = json_pack("[o]", source_ref("virtual-network", vn));
    cx.imports = json_object();
    cx.sris = json_object();
    if (rc != 0 || !entries || !df || !cx.imports || !cx.sris) {
        rc = rc ? rc : COMPILE_ENOMEM;
        goto out;
    }
    x.sg = false;
    x.entries = entries;
    for (size_t i = 0; i < npol && rc == 0; i++) {
        x.pol = pols[i].pol;
        rc = rules_expand(&x, json_object_get(pols[i].pol, "network_policy_entries"));
        if (rc == 0 && json_array_append_new(df, source_ref("network-policy", pols[i].pol)) != 0) {
            rc = COMPILE_ENOMEM;
        }
    }
    if (rc != 0) {
        goto out;
    }
    /* connections: both sides must allow */
    allowed = vn_allowed(m, vn, &rc);
    if (!allowed) {
        goto out;
    }
    const char *peer;
    json_t *unused;
    json_object_foreach(allowed, peer, unused) {
        const char *pu = name_get(m, m->vn_names, "virtual-network", peer);
        const json_t *pvn = pu ? compile_model_get(m, pu, NULL) : NULL;
        uint32_t pn = pu ? compile_alloc_rt(a, pu) : 0;
        if (!pvn || pn == 0) {
            continue;
        }
        json_t *back = vn_allowed(m, pvn, &rc);
        if (!back) {
            goto out;
        }
        if (json_object_get(back, x.owner_fq)) {
            rc = import_add(cx.imports, pn);
        }
        json_decref(back);
        if (rc != 0) {
            goto out;
        }
    }
    /* service chains */
    snprintf(cx.self, sizeof cx.self, "%s", x.owner_fq);
    if ((rc = vn_chains(m, vn, cx.self, chain_visit, &cx)) != 0 ||
        (rc = chains_emit(m, a, vn, cx.sris, out)) != 0) {
        goto out;
    }

    /* logical routers: their targets, imported and exported */
    shared = json_object();
    ridf = json_copy(df);
    if (!shared || !ridf) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    size_t nlr = 0;
    const char **lrs = sorted_keys(json_object_get(m->vn_lrs, uuid), &nlr);
    if (!lrs) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nlr && rc == 0; i++) {
        const json_t *lr = compile_model_get(m, lrs[i], NULL);
        if (lr && (rc = import_add(shared, compile_alloc_rt(a, lrs[i]))) == 0 &&
            json_array_append_new(ridf, source_ref("logical-router", lr)) != 0) {
            rc = COMPILE_ENOMEM;
        }
    }
    free(lrs);
    if (rc != 0) {
        goto out;
    }
    refs = rt_refs(m, rtn, shared, cx.imports);
    if (!refs) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    if ((rc = derived_new(out, "routing-instance", fq_child(vn, name), "virtual-network", vn,
                          json_incref(ridf), &ri)) != 0) {
        goto out;
    }
    json_object_set_new(ri, "routing_instance_is_default", json_true());
    json_object_set(ri, "route_target_refs", refs);
    if (m->version >= 3 &&
        json_object_set_new(ri, "vxlan_network_identifier", json_integer(compile_alloc_vni(a, uuid))) != 0) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    rc = acl_emit(out, vn, "virtual-network", name, entries, json_incref(df));
out:
    free(pols);
    json_decref(shared);
    json_decref(ridf);
    json_decref(cx.imports);
    json_decref(cx.sris);
    json_decref(refs);
    json_decref(allowed);
    json_decref(entries);
    json_decref(df);
    return rc;
}

/* ---- security groups, projects ------------------------------------------ */

/* The ACLs of security group 'sg' into 'out', derived from 'df' (borrowed). */
static int sg_compile(const json_t *sg, const json_t *df, json_t *out)
{
    struct expand x = {.owner = sg, .pol = sg, .sg = true};
    int rc = fq_join(json_object_get(sg, "fq_name"), ':', x.owner_fq, sizeof x.owner_fq);
    if (rc != 0) {
        return rc;
    }
    x.entries = json_array();
    x.egress = json_array();
    if (!x.entries || !x.egress) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    rc = rules_expand(&x, json_object_get(sg, "security_group_entries"));
    if (rc == 0) {
        rc = acl_emit(out, sg, "security-group", "ingress-access-control-list", x.entries,
                      json_incref((json_t *)df));
    }
    if (rc == 0) {
        rc = acl_emit(out, sg, "security-group", "egress-access-control-list", x.egress,
                      json_incref((json_t *)df));
    }
out:
    json_decref(x.entries);
    json_decref(x.egress);
    return rc;
}

static int project_compile(const struct compile_model *m, const json_t *proj, json_t *out)
{
    json_t *fq = fq_child(proj, "default");
    if (!fq) {
        return COMPILE_ENOMEM;
    }
    if (model_by_fq(m, "security-group", fq)) {
        json_decref(fq);
        return 0; /* the default group is an input: it compiles itself */
    }
    char sgfq[FQ_STR_MAX];
    int rc = fq_join(fq, ':', sgfq, sizeof sgfq);
    json_t *sg = NULL;
    if (rc != 0 || (rc = derived_new(out, "security-group", json_incref(fq), "project", proj, NULL, &sg)) != 0) {
        json_decref(fq);
        return rc;
    }
    json_decref(fq);
    json_t *rules = json_array();
    static const char *const eth[2] = {"IPv4", "IPv6"};
    static const char *const any[2] = {"0.0.0.0", "::"};
    for (int i = 0; i < 2 && rules; i++) {
        json_array_append_new(
            rules, json_pack("{s:s,s:s,s:s,s:[{s:s}],s:[{s:s}],s:{s:s}}", "direction", ">", "protocol",
                             "any", "ethertype", eth[i], "src_addresses", "security_group", sgfq,
                             "dst_addresses", "security_group", "local", "action_list",
                             "simple_action", "pass"));
        json_array_append_new(
            rules, json_pack("{s:s,s:s,s:s,s:[{s:s}],s:[{s:{s:s,s:i}}],s:{s:s}}", "direction", ">",
                             "protocol", "any", "ethertype", eth[i], "src_addresses",
                             "security_group", "local", "dst_addresses", "subnet", "ip_prefix",
                             any[i], "ip_prefix_len", 0, "action_list", "simple_action", "pass"));
    }
    if (!rules || json_array_size(rules) != 4) {
        json_decref(rules);
        return COMPILE_ENOMEM;
    }
    json_object_set_new(sg, "security_group_entries", json_pack("{s:o}", "policy_rule", rules));
    json_t *df = json_pack("[o]", source_ref("project", proj));
    rc = df ? sg_compile(sg, df, out) : COMPILE_ENOMEM;
    json_decref(df);
    return rc;
}

/* ---- floating IPs, virtual routers (version 2) ---------------------------- */

/* Orders address texts 'a' and 'b' of one family numerically (unparsable
 * ones last, by text). */
static int addr_cmp(const char *a, const char *b)
{
    uint8_t x[16], y[16];
    int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
    if (fa == fb && inet_pton(fa, a, x) == 1 && inet_pton(fb, b, y) == 1) {
        return memcmp(x, y, fa == AF_INET ? 4 : 16);
    }
    return strcmp(a, b);
}

/* The ':' string of the default routing instance of the network whose
 * fq_name is 'vnfq' (an array): the network's fq_name plus its name. */
static int vn_ri_str(const json_t *vnfq, char *out, size_t size)
{
    char s[FQ_STR_MAX];
    const char *last = json_string_value(json_array_get(vnfq, json_array_size(vnfq) - 1));
    int rc = fq_join(vnfq, ':', s, sizeof s);
    if (rc == 0 && (!last || (size_t)snprintf(out, size, "%s:%s", s, last) >= size)) {
        rc = last ? COMPILE_ETOOLARGE : COMPILE_EINVAL;
    }
    return rc;
}

/* The network fq_name (borrowed) interface 'vmi' refers to, or NULL. */
static const json_t *vmi_vn_fq(const json_t *vmi)
{
    return json_object_get(json_array_get(json_object_get(vmi, "virtual_network_refs"), 0), "to");
}

/* The lowest address of family 'v6' among the instance-ips of interface
 * 'vmi_uuid' (borrowed), or NULL. */
static const char *vmi_fixed_ip(const struct compile_model *m, const char *vmi_uuid, bool v6)
{
    size_t n = 0;
    const char *best = NULL;
    const char **iips = sorted_keys(members(m, m->vmi_iips, vmi_uuid, "br", "instance-ip"), &n);
    for (size_t i = 0; iips && i < n; i++) {
        const json_t *iip = compile_model_get(m, iips[i], NULL);
        const char *a = iip ? str_of(iip, "instance_ip_address") : NULL;
        if (a && (strchr(a, ':') != NULL) == v6 && (!best || addr_cmp(a, best) < 0)) {
            best = a;
        }
    }
    free(iips);
    return best;
}

/* Floating IP 'fip': when it has an address and refers to an interface
 * present in 'm' with a fixed address of the same family, one
 * floating-ip-mapping under the pool network's default routing instance,
 * named by the floating IP's uuid: the route (the floating address as a
 * host prefix in that instance, towards the interface) and the NAT (fixed
 * <-> floating address, the routing instances of both sides). */
static int fip_compile(const struct compile_model *m, const json_t *fip, json_t *out)
{
    const char *addr = str_of(fip, "floating_ip_address");
    const json_t *fq = json_object_get(fip, "fq_name");
    if (!addr || json_array_size(fq) != 5) {
        return 0; /* no address yet, or not [domain, project, network, pool, name] */
    }
    size_t i;
    const json_t *ref, *vmi = NULL;
    const char *vmi_uuid = NULL;
    json_array_foreach(json_object_get(fip, "virtual_machine_interface_refs"), i, ref) {
        const char *type = NULL;
        const char *u = str_of(ref, "uuid");
        const json_t *o = u ? compile_model_get(m, u, &type) : NULL;
        if (o && strcmp(type, "virtual-machine-interface") == 0) {
            vmi = o;
            vmi_uuid = u;
            break;
        }
    }
    bool v6 = strchr(addr, ':') != NULL;
    const char *fixed = vmi ? str_of(fip, "floating_ip_fixed_ip_address") : NULL;
    if (vmi && !fixed) {
        fixed = vmi_fixed_ip(m, vmi_uuid, v6);
    }
    const json_t *fixed_vn = vmi ? vmi_vn_fq(vmi) : NULL;
    if (!vmi || !fixed || !fixed_vn) {
        return 0;
    }
    char pool_ri[FQ_STR_MAX], fixed_ri[FQ_STR_MAX], prefix[80], ru[37];
    json_t *vnfq = json_pack("[O,O,O]", json_array_get(fq, 0), json_array_get(fq, 1),
                             json_array_get(fq, 2));
    json_t *rifq = json_pack("[O,O,O,O]", json_array_get(fq, 0), json_array_get(fq, 1),
                             json_array_get(fq, 2), json_array_get(fq, 2));
    int rc = vnfq && rifq ? 0 : COMPILE_ENOMEM;
    rc = rc ? rc : vn_ri_str(vnfq, pool_ri, sizeof pool_ri);
    rc = rc ? rc : vn_ri_str(fixed_vn, fixed_ri, sizeof fixed_ri);
    rc = rc ? rc : compile_uuid("routing-instance", rifq, ru);
    json_t *parent = rc == 0 ? json_pack("{s:s,s:O}", "uuid", ru, "fq_name", rifq) : NULL;
    json_t *mp = NULL;
    if (rc == 0 && !parent) {
        rc = COMPILE_ENOMEM;
    }
    if (rc == 0) {
        const char *dir = str_of(fip, "floating_ip_traffic_direction");
        snprintf(prefix, sizeof prefix, "%s/%d", addr, v6 ? 128 : 32);
        json_t *df = json_pack("[o,o]", source_ref("floating-ip", fip),
                               source_ref("virtual-machine-interface", vmi));
        rc = derived_new(out, "floating-ip-mapping", fq_child(parent, str_of(fip, "uuid")),
                         "routing-instance", parent, df, &mp);
        if (rc == 0 && json_object_set_new(mp, "floating_ip_mapping",
                                           json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "prefix", prefix,
                                                     "floating_ip_address", addr, "fixed_ip_address",
                                                     fixed, "virtual_machine_interface", vmi_uuid,
                                                     "floating_routing_instance", pool_ri,
                                                     "fixed_routing_instance", fixed_ri,
                                                     "traffic_direction", dir ? dir : "both")) != 0) {
            rc = COMPILE_ENOMEM;
        }
    }
    json_decref(parent);
    json_decref(vnfq);
    json_decref(rifq);
    return rc;
}

/* Adds 'v' to the set 'set' (a JSON object used as a sorted-on-output set). */
static int sset_add(json_t *set, const char *v)
{
    return v ? set_add(set, v) : 0;
}

/* The keys of 'set' as a sorted JSON array of strings, a new reference. */
static json_t *sset_array(const json_t *set)
{
    size_t n = 0;
    const char **keys = sorted_keys(set, &n);
    json_t *a = keys ? json_array() : NULL;
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(keys[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    free(keys);
    return a;
}

/* One interface of a virtual-router index, adding what it needs to the
 * index's sets ('vns', 'ris', 'acls', 'sgs'). From rules version 3 the
 * entry also carries the interface's virtual_machine_interface_mac_addresses
 * (its mac_address list, when the interface has one). */
static json_t *vr_interface(const struct compile_model *m, const char *uuid, const json_t *vmi,
                            json_t *vns, json_t *ris, json_t *acls, json_t *sgs, int *rc)
{
    char vn[FQ_STR_MAX], ri[FQ_STR_MAX];
    const json_t *vnfq = vmi_vn_fq(vmi);
    json_t *e = json_pack("{s:s,s:O}", "uuid", uuid, "fq_name", json_object_get(vmi, "fq_name"));
    json_t *sgl = json_array(), *ips = json_array(), *fips = json_array(), *byname = json_object();
    size_t i, n = 0;
    const json_t *ref;
    *rc = e && sgl && ips && fips && byname ? 0 : COMPILE_ENOMEM;
    if (*rc == 0 && vnfq && fq_join(vnfq, ':', vn, sizeof vn) == 0 &&
        vn_ri_str(vnfq, ri, sizeof ri) == 0) {
        json_object_set_new(e, "virtual_network", json_string(vn));
        json_object_set_new(e, "routing_instance", json_string(ri));
        json_object_set_new(e, "access_control_list", json_string(ri));
        *rc = sset_add(vns, vn);
        *rc = *rc ? *rc : sset_add(ris, ri);
        *rc = *rc ? *rc : sset_add(acls, ri);
    }
    /* security groups, by name */
    json_array_foreach(json_object_get(vmi, "security_group_refs"), i, ref) {
        char sg[FQ_STR_MAX];
        if (*rc == 0 && fq_join(json_object_get(ref, "to"), ':', sg, sizeof sg) == 0) {
            *rc = sset_add(byname, sg);
        }
    }
    const char **names = *rc == 0 ? sorted_keys(byname, &n) : NULL;
    for (size_t j = 0; names && j < n && *rc == 0; j++) {
        char in[FQ_STR_MAX + 32], eg[FQ_STR_MAX + 32];
        snprintf(in, sizeof in, "%s:ingress-access-control-list", names[j]);
        snprintf(eg, sizeof eg, "%s:egress-access-control-list", names[j]);
        if (json_array_append_new(sgl, json_pack("{s:s,s:s,s:s}", "security_group", names[j],
                                                 "ingress_access_control_list", in,
                                                 "egress_access_control_list", eg)) != 0) {
            *rc = COMPILE_ENOMEM;
        }
        *rc = *rc ? *rc : sset_add(sgs, names[j]);
        *rc = *rc ? *rc : sset_add(acls, in);
        *rc = *rc ? *rc : sset_add(acls, eg);
    }
    free(names);
    /* fixed addresses, in address order */
    size_t ni = 0;
    const char **iips =
        *rc == 0 ? sorted_keys(members(m, m->vmi_iips, uuid, "br", "instance-ip"), &ni) : NULL;
    const char **addrs = iips ? calloc(ni + 1, sizeof *addrs) : NULL;
    size_t na = 0;
    for (size_t j = 0; addrs && j < ni; j++) {
        const json_t *iip = compile_model_get(m, iips[j], NULL);
        const char *a = iip ? str_of(iip, "instance_ip_address") : NULL;
        if (a) {
            size_t k = na++;
            while (k > 0 && addr_cmp(addrs[k - 1], a) > 0) {
                addrs[k] = addrs[k - 1];
                k--;
            }
            addrs[k] = a;
        }
    }
    for (size_t j = 0; j < na && *rc == 0; j++) {
        *rc = json_array_append_new(ips, json_string(addrs[j])) == 0 ? 0 : COMPILE_ENOMEM;
    }
    if (*rc == 0 && ni > 0 && !addrs) {
        *rc = COMPILE_ENOMEM;
    }
    free(addrs);
    free(iips);
    /* floating IPs, by uuid, with the pool network's instance */
    size_t nf = 0;
    const char **fl =
        *rc == 0 ? sorted_keys(members(m, m->vmi_fips, uuid, "wbr", "floating-ip"), &nf) : NULL;
    for (size_t j = 0; fl && j < nf && *rc == 0; j++) {
        const json_t *fip = compile_model_get(m, fl[j], NULL);
        const json_t *ffq = fip ? json_object_get(fip, "fq_name") : NULL;
        const char *fa = fip ? str_of(fip, "floating_ip_address") : NULL;
        char pri[FQ_STR_MAX];
        if (!fa || json_array_size(ffq) != 5) {
            continue;
        }
        json_t *pvn = json_pack("[O,O,O]", json_array_get(ffq, 0), json_array_get(ffq, 1),
                                json_array_get(ffq, 2));
        *rc = pvn ? vn_ri_str(pvn, pri, sizeof pri) : COMPILE_ENOMEM;
        json_decref(pvn);
        if (*rc == 0 && json_array_append_new(fips, json_pack("{s:s,s:s,s:s}", "floating_ip", fl[j],
                                                              "floating_ip_address", fa,
                                                              "routing_instance", pri)) != 0) {
            *rc = COMPILE_ENOMEM;
        }
        *rc = *rc ? *rc : sset_add(ris, pri);
    }
    if (*rc == 0 && nf > 0 && !fl) {
        *rc = COMPILE_ENOMEM;
    }
    free(fl);
    if (*rc == 0) {
        json_object_set(e, "security_groups", sgl);
        json_object_set(e, "instance_ip_addresses", ips);
        json_object_set(e, "floating_ips", fips);
    }
    /* version 3: the interface's MAC addresses (the API assigns one) */
    const json_t *macs = json_object_get(json_object_get(vmi, "virtual_machine_interface_mac_addresses"),
                                         "mac_address");
    if (*rc == 0 && m->version >= 3 && json_is_array(macs) &&
        json_object_set_new(e, "virtual_machine_interface_mac_addresses",
                            json_pack("{s:o}", "mac_address", json_deep_copy(macs))) != 0) {
        *rc = COMPILE_ENOMEM;
    }
    /* version 3: the name of its virtual machine, the instance's DNS name
     * (docs/agent-proxy.md): the machine it is under, else the one it refers to */
    const char *pt = str_of(vmi, "parent_type");
    const json_t *vmname;
    if (pt && strcmp(pt, "virtual-machine") == 0) {
        vmname = json_array_get(json_object_get(vmi, "fq_name"), 0);
    } else {
        const json_t *to = json_object_get(json_array_get(json_object_get(vmi, "virtual_machine_refs"), 0), "to");
        vmname = json_array_get(to, json_array_size(to) - 1);
    }
    if (*rc == 0 && m->version >= 3 && json_is_string(vmname) &&
        json_object_set(e, "virtual_machine", (json_t *)vmname) != 0) {
        *rc = COMPILE_ENOMEM;
    }
    json_decref(sgl);
    json_decref(ips);
    json_decref(fips);
    json_decref(byname);
    if (*rc != 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* Virtual router 'vr': its virtual-router-index, listing the interfaces
 * of the virtual machines it refers to (referring to the machine or under
 * it; in uuid order) and the networks, routing instances, ACLs and
 * security groups they need. */
static int vr_compile(const struct compile_model *m, const json_t *vr, json_t *out)
{
    size_t i, n = 0;
    const json_t *ref;
    json_t *all = json_object();
    json_array_foreach(json_object_get(vr, "virtual_machine_refs"), i, ref) {
        const char *vm = str_of(ref, "uuid");
        if (all && vm) {
            json_object_update(all, (json_t *)members(m, m->vm_vmis, vm, "br", "virtual-machine-interface"));
            json_object_update(all, (json_t *)members(m, m->vm_cvmis, vm, "ch", "virtual-machine-interface"));
        }
    }
    const char **vmis = all ? sorted_keys(all, &n) : NULL;
    json_t *ifs = json_array(), *vns = json_object(), *ris = json_object(), *acls = json_object(),
           *sgs = json_object();
    int rc = vmis && ifs && vns && ris && acls && sgs ? 0 : COMPILE_ENOMEM;
    for (i = 0; i < n && rc == 0; i++) {
        const char *type = NULL;
        const json_t *vmi = compile_model_get(m, vmis[i], &type);
        if (!vmi || strcmp(type, "virtual-machine-interface") != 0) {
            continue;
        }
        json_t *e = vr_interface(m, vmis[i], vmi, vns, ris, acls, sgs, &rc);
        if (e && json_array_append_new(ifs, e) != 0) {
            rc = COMPILE_ENOMEM;
        }
    }
    json_decref(all);
    json_t *idx = NULL;
    if (rc == 0) {
        idx = json_pack("{s:O,s:o,s:o,s:o,s:o}", "interfaces", ifs, "virtual_networks", sset_array(vns),
                        "routing_instances", sset_array(ris), "access_control_lists",
                        sset_array(acls), "security_groups", sset_array(sgs));
        rc = idx ? 0 : COMPILE_ENOMEM;
    }
    json_t *obj = NULL;
    if (rc == 0) {
        json_t *df = json_pack("[o]", source_ref("virtual-router", vr));
        rc = derived_new(out, "virtual-router-index", fq_child(vr, "index"), "virtual-router", vr, df,
                         &obj);
    }
    if (rc == 0) {
        json_object_set(obj, "virtual_router_index", idx);
    }
    json_decref(idx);
    free(vmis);
    json_decref(ifs);
    json_decref(vns);
    json_decref(ris);
    json_decref(acls);
    json_decref(sgs);
    return rc;
}

/* ---- global settings (version 3) ------------------------------------------ */

/* The effective encapsulation order from 'prio' (EncapsulationPrioritiesType,
 * may be NULL): the known names in the order given, a repeated one dropped
 * after its first occurrence (the REST layer refuses repeats; this keeps
 * objects written otherwise deterministic); none left: the default order. */
static json_t *egc_encaps(const json_t *prio)
{
    static const char *const known[] = {"MPLSoUDP", "MPLSoGRE", "VXLAN"};
    json_t *list = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(prio, "encapsulation"), i, e) {
        const char *name = json_string_value(e);
        bool ok = false, seen = false;
        for (size_t k = 0; name && k < sizeof known / sizeof known[0]; k++) {
            ok = ok || strcmp(name, known[k]) == 0;
        }
        size_t j;
        const json_t *f;
        json_array_foreach(list, j, f) {
            seen = seen || (name && strcmp(json_string_value(f), name) == 0);
        }
        if (list && ok && !seen && json_array_append_new(list, json_string(name)) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    bool none = list && json_array_size(list) == 0;
    for (size_t k = 0; none && k < sizeof known / sizeof known[0]; k++) {
        if (json_array_append_new(list, json_string(known[k])) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list ? json_pack("{s:o}", "encapsulation", list) : NULL;
}

static json_t *gr_bool(const json_t *gr, const char *key, bool dflt)
{
    const json_t *v = json_object_get(gr, key);
    return json_boolean(json_is_boolean(v) ? json_is_true(v) : dflt);
}

static json_t *gr_int(const json_t *gr, const char *key, json_int_t dflt)
{
    const json_t *v = json_object_get(gr, key);
    return json_integer(json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : dflt);
}

/* Global-system-config 'gsc': its effective-global-config (fq_name gsc's
 * plus COMPILE_EGC_NAME) with the autonomous system, every
 * graceful-restart parameter and the encapsulation order of its child
 * COMPILE_GVRC_NAME, defaults filled; derived_from names the
 * global-system-config and, when present, the global-vrouter-config. */
static int egc_compile(const struct compile_model *m, const json_t *gsc, json_t *out)
{
    json_t *vfq = fq_child(gsc, COMPILE_GVRC_NAME);
    const json_t *gvrc = vfq ? model_by_fq(m, "global-vrouter-config", vfq) : NULL;
    json_decref(vfq);
    if (!vfq) {
        return COMPILE_ENOMEM;
    }
    const json_t *gr = json_object_get(gsc, "graceful_restart_parameters");
    const json_t *asn = json_object_get(gsc, "autonomous_system");
    json_t *df = gvrc ? json_pack("[o,o]", source_ref("global-system-config", gsc),
                                  source_ref("global-vrouter-config", gvrc))
                      : json_pack("[o]", source_ref("global-system-config", gsc));
    json_t *grp = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "enable", gr_bool(gr, "enable", true),
                            "restart_time", gr_int(gr, "restart_time", COMPILE_GR_RESTART_TIME),
                            "long_lived_restart_time",
                            gr_int(gr, "long_lived_restart_time", COMPILE_GR_LLGR_TIME),
                            "end_of_rib_timeout", gr_int(gr, "end_of_rib_timeout", COMPILE_GR_EOR_TIMEOUT),
                            "bgp_helper_enable", gr_bool(gr, "bgp_helper_enable", true),
                            "xmpp_helper_enable", gr_bool(gr, "xmpp_helper_enable", true));
    json_t *enc = egc_encaps(gvrc ? json_object_get(gvrc, "encapsulation_priorities") : NULL);
    json_t *obj = NULL;
    int rc = df && grp && enc ? 0 : COMPILE_ENOMEM;
    if (rc == 0) {
        rc = derived_new(out, COMPILE_EGC_TYPE, fq_child(gsc, COMPILE_EGC_NAME), "global-system-config",
                         gsc, json_incref(df), &obj);
    }
    if (rc == 0 &&
        (json_object_set_new(obj, "autonomous_system",
                             json_integer(json_is_integer(asn) ? json_integer_value(asn)
                                                               : COMPILE_DEFAULT_ASN)) != 0 ||
         json_object_set(obj, "graceful_restart_parameters", grp) != 0 ||
         json_object_set(obj, "encapsulation_priorities", enc) != 0)) {
        rc = COMPILE_ENOMEM;
    }
    json_decref(df);
    json_decref(grp);
    json_decref(enc);
    return rc;
}

/* ---- drivers -------------------------------------------------------------- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of 'set', sorted; '*len' their count. Borrowed strings. */
static const char **sorted_keys(const json_t *set, size_t *len)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    const char **keys = calloc(json_object_size(set) + 1, sizeof *keys);
    if (!keys) {
        return NULL;
    }
    json_object_foreach((json_t *)set, k, v) {
        keys[n++] = k;
    }
    qsort(keys, n, sizeof *keys, str_cmp);
    *len = n;
    return keys;
}

int compile_sources(const struct compile_model *m, struct compile_alloc *a, const json_t *sources,
                    json_t *out)
{
    size_t n = 0;
    int rc = 0;
    const char **keys = sorted_keys(sources, &n);
    if (!keys) {
        return COMPILE_ENOMEM;
    }
    /* releases first, then configured VNIs, then the lowest free numbers,
     * each in uuid order: the result depends only on the set */
    for (size_t i = 0; i < n; i++) {
        if (!compile_model_get(m, keys[i], NULL)) {
            pool_release(&a->rt, keys[i]);
            pool_release(&a->vni, keys[i]);
            svc_release_all(a, keys[i], NULL);
        }
    }
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            const char *type;
            const json_t *o = compile_model_get(m, keys[i], &type);
            if (o && strcmp(type, "virtual-network") == 0) {
                rc = vn_alloc(m, a, o, pass == 0);
            } else if (o && pass == 1 && strcmp(type, "logical-router") == 0) {
                uint64_t num;
                rc = pool_get(&a->rt, keys[i], 0, &num);
            }
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *type;
        const json_t *o = compile_model_get(m, keys[i], &type);
        if (!o) {
            continue;
        }
        if (strcmp(type, "virtual-network") == 0) {
            rc = vn_compile(m, a, o, out);
        } else if (strcmp(type, "security-group") == 0) {
            json_t *df = json_pack("[o]", source_ref("security-group", o));
            rc = df ? sg_compile(o, df, out) : COMPILE_ENOMEM;
            json_decref(df);
        } else if (strcmp(type, "project") == 0) {
            rc = project_compile(m, o, out);
        } else if (strcmp(type, "logical-router") == 0) {
            json_t *df = json_pack("[o]", source_ref("logical-router", o));
            rc = derived_new(out, "route-target", rt_fq(m, compile_alloc_rt(a, keys[i])), NULL, NULL,
                             df, NULL);
        } else if (m->version >= 2 && strcmp(type, "floating-ip") == 0) {
            rc = fip_compile(m, o, out);
        } else if (m->version >= 2 && strcmp(type, "virtual-router") == 0) {
            rc = vr_compile(m, o, out);
        } else if (m->version >= 3 && strcmp(type, "global-system-config") == 0) {
            rc = egc_compile(m, o, out);
        }
    }
    free(keys);
    return rc;
}

int compile_all(const struct compile_model *m, struct compile_alloc *a, json_t **out)
{
    json_t *sources = json_object();
    json_t *res = json_object();
    const char *k;
    json_t *v;
    int rc = 0;
    if (!sources || !res) {
        rc = COMPILE_ENOMEM;
        goto out;
    }
    json_object_foreach(m->objs, k, v) {
        const char *t = str_of(v, "t");
        if (strcmp(t, "virtual-network") == 0 || strcmp(t, "security-group") == 0 ||
            strcmp(t, "project") == 0 || strcmp(t, "logical-router") == 0 ||
            (m->version >= 2 && (strcmp(t, "floating-ip") == 0 || strcmp(t, "virtual-router") == 0)) ||
            (m->version >= 3 && strcmp(t, "global-system-config") == 0)) {
            if ((rc = set_add(sources, k)) != 0) {
                goto out;
            }
        }
    }
    /* owners that left the model release their numbers (a service
     * instance's target goes with its network's compile) */
    json_object_foreach(a->rt.owner, k, v) {
        if (!strchr(k, '/') && !compile_model_get(m, k, NULL) && (rc = set_add(sources, k)) != 0) {
            goto out;
        }
    }
    json_object_foreach(a->svc, k, v) {
        if (!compile_model_get(m, k, NULL) && (rc = set_add(sources, k)) != 0) {
            goto out;
        }
    }
    json_object_foreach(a->vni.owner, k, v) {
        if (!compile_model_get(m, k, NULL) && (rc = set_add(sources, k)) != 0) {
            goto out;
        }
    }
    rc = compile_sources(m, a, sources, res);
out:
    json_decref(sources);
    if (rc == 0) {
        *out = res;
    } else {
        json_decref(res);
    }
    return rc;
}

struct affected_ctx {
    const struct compile_model *m;
    json_t *sources;
    int rc;
};

/* Adds every network attached to a policy naming network 'fq'. */
static int affected_named(void *arg, const char *fq)
{
    struct affected_ctx *c = arg;
    const char *vu = name_get(c->m, c->m->vn_names, "virtual-network", fq);
    if (vu && c->rc == 0) {
        c->rc = set_add(c->sources, vu);
    }
    return c->rc;
}

static int affected_attached(struct affected_ctx *c, const char *pol)
{
    const char *vu;
    json_t *v;
    json_object_foreach((json_t *)members(c->m, c->m->pol_vns, pol, "br", "virtual-network"), vu, v) {
        if ((c->rc = set_add(c->sources, vu)) != 0) {
            return c->rc;
        }
    }
    return 0;
}

/* The networks that the policies attached to 'vn' name. */
static int affected_vn_policies(struct affected_ctx *c, const json_t *vn)
{
    size_t i;
    const json_t *ref;
    json_array_foreach(json_object_get(vn, "network_policy_refs"), i, ref) {
        const char *type;
        const json_t *pol = compile_model_get(c->m, str_of(ref, "uuid") ? str_of(ref, "uuid") : "", &type);
        if (pol && strcmp(type, "network-policy") == 0 &&
            policy_foreach_vn(pol, affected_named, c) != 0) {
            return c->rc;
        }
    }
    return 0;
}

/* The networks of every chain through service instance 'si' (may be NULL). */
static int affected_si(struct affected_ctx *c, const json_t *si)
{
    char fq[FQ_STR_MAX];
    const char *k;
    json_t *v;
    fq[0] = '\x1f';
    if (si && fq_join(json_object_get(si, "fq_name"), ':', fq + 1, sizeof fq - 1) == 0) {
        json_object_foreach(json_object_get(c->m->name_pols, fq), k, v) {
            if (affected_attached(c, k) != 0) {
                return c->rc;
            }
        }
    }
    return 0;
}

/* The virtual-routers referring to a virtual machine of interface 'vmi'
 * (one it refers to, or its parent). */
static int affected_vmi_obj(struct affected_ctx *c, const json_t *vmi)
{
    size_t i;
    const json_t *ref;
    const char *pt = str_of(vmi, "parent_type"), *pu = str_of(vmi, "parent_uuid");
    const char *k;
    json_t *v;
    for (i = 0; i <= json_array_size(json_object_get(vmi, "virtual_machine_refs")) && c->rc == 0; i++) {
        ref = json_array_get(json_object_get(vmi, "virtual_machine_refs"), i);
        const char *vm = ref ? str_of(ref, "uuid") : pt && strcmp(pt, "virtual-machine") == 0 ? pu : NULL;
        if (!vm) {
            continue;
        }
        json_object_foreach((json_t *)members(c->m, c->m->vm_vrs, vm, "br", "virtual-router"), k, v) {
            if ((c->rc = set_add(c->sources, k)) != 0) {
                break;
            }
        }
    }
    return c->rc;
}

/* The virtual-routers hosting interface 'vmi_uuid' (read from the model). */
static int affected_vmi_host(struct affected_ctx *c, const char *vmi_uuid)
{
    const char *type = NULL;
    const json_t *vmi = vmi_uuid ? compile_model_get(c->m, vmi_uuid, &type) : NULL;
    if (!vmi || strcmp(type, "virtual-machine-interface") != 0) {
        return 0;
    }
    return affected_vmi_obj(c, vmi);
}

/* Adds every key of set 'set' to the sources. */
static int affected_set(struct affected_ctx *c, const json_t *set)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)set, k, v) {
        if ((c->rc = set_add(c->sources, k)) != 0) {
            break;
        }
    }
    return c->rc;
}

/* The chains through the service instance of port tuple 'pt_uuid'. */
static int affected_pt(struct affected_ctx *c, const char *pt_uuid)
{
    const json_t *pt = pt_uuid ? compile_model_get(c->m, pt_uuid, NULL) : NULL;
    const char *si = pt ? str_of(pt, "parent_uuid") : NULL;
    return affected_si(c, si ? compile_model_get(c->m, si, NULL) : NULL);
}

/* Version 2 triggers (compile_affected()). */
static int affected_v2(struct affected_ctx *c, const char *type, const char *uuid, const json_t *old,
                       const json_t *now)
{
    size_t j;
    const json_t *ref;
    if (strcmp(type, "virtual-router") == 0 || strcmp(type, "floating-ip") == 0) {
        if ((c->rc = set_add(c->sources, uuid)) != 0) {
            return c->rc;
        }
    }
    if (strcmp(type, "service-template") == 0) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)members(c->m, c->m->st_sis, uuid, "br", "service-instance"), k, v) {
            if (affected_si(c, compile_model_get(c->m, k, NULL)) != 0) {
                return c->rc;
            }
        }
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        const json_t *o = i ? now : old;
        if (!o) {
            continue;
        }
        if (strcmp(type, "port-tuple") == 0) {
            const char *si = str_of(o, "parent_uuid");
            if (affected_si(c, si ? compile_model_get(c->m, si, NULL) : NULL) != 0) {
                return c->rc;
            }
        } else if (strcmp(type, "virtual-machine-interface") == 0) {
            if (affected_vmi_obj(c, o) != 0 ||
                affected_set(c, members(c->m, c->m->vmi_fips, uuid, "wbr", "floating-ip")) != 0) {
                return c->rc;
            }
            json_array_foreach(json_object_get(o, "port_tuple_refs"), j, ref) {
                if (affected_pt(c, str_of(ref, "uuid")) != 0) {
                    return c->rc;
                }
            }
        } else if (strcmp(type, "floating-ip") == 0 || strcmp(type, "instance-ip") == 0) {
            json_array_foreach(json_object_get(o, "virtual_machine_interface_refs"), j, ref) {
                const char *vu = str_of(ref, "uuid");
                if (affected_vmi_host(c, vu) != 0 ||
                    (strcmp(type, "instance-ip") == 0 && vu &&
                     affected_set(c, members(c->m, c->m->vmi_fips, vu, "wbr", "floating-ip")) != 0)) {
                    return c->rc;
                }
            }
        }
    }
    return c->rc;
}

/* Version 3: a global-system-config recompiles itself (its
 * effective-global-config) and, when its autonomous system changed (or it
 * came or went), every network (the ASN is in their targets); a
 * global-vrouter-config recompiles its parent global-system-config. */
static int affected_v3(struct affected_ctx *c, const char *type, const char *uuid, const json_t *old,
                       const json_t *now)
{
    if (strcmp(type, "global-vrouter-config") == 0) {
        for (int i = 0; i < 2; i++) {
            const json_t *o = i ? now : old;
            const char *pu = o ? str_of(o, "parent_uuid") : NULL;
            if (pu && compile_model_get(c->m, pu, NULL) && (c->rc = set_add(c->sources, pu)) != 0) {
                return c->rc;
            }
        }
        return 0;
    }
    if ((c->rc = set_add(c->sources, uuid)) != 0) {
        return c->rc;
    }
    const json_t *a = old ? json_object_get(old, "autonomous_system") : NULL;
    const json_t *b = now ? json_object_get(now, "autonomous_system") : NULL;
    if (old && now && ((!a && !b) || (a && b && json_equal(a, b)))) {
        return 0;
    }
    const char *k;
    json_t *v;
    json_object_foreach(c->m->vn_names, k, v) {
        if ((c->rc = set_add(c->sources, json_string_value(v))) != 0) {
            return c->rc;
        }
    }
    return 0;
}

int compile_affected(const struct compile_model *m, const char *type, const char *uuid,
                     const json_t *old, const json_t *now, json_t *sources)
{
    struct affected_ctx c = {m, sources, 0};
    const char *k;
    json_t *v;
    if (strcmp(type, "virtual-network") == 0) {
        if ((c.rc = set_add(sources, uuid)) != 0) {
            return c.rc;
        }
        for (int i = 0; i < 2; i++) {
            const json_t *o = i ? now : old;
            char fq[FQ_STR_MAX];
            if (!o) {
                continue;
            }
            if (fq_join(json_object_get(o, "fq_name"), ':', fq, sizeof fq) == 0) {
                json_object_foreach(json_object_get(m->name_pols, fq), k, v) {
                    if (affected_attached(&c, k) != 0) {
                        return c.rc;
                    }
                }
            }
            if (affected_vn_policies(&c, o) != 0) {
                return c.rc;
            }
        }
        return 0;
    }
    if (strcmp(type, "network-policy") == 0) {
        if (affected_attached(&c, uuid) != 0) {
            return c.rc;
        }
        if (old && policy_foreach_vn(old, affected_named, &c) != 0) {
            return c.rc;
        }
        if (now && policy_foreach_vn(now, affected_named, &c) != 0) {
            return c.rc;
        }
        return 0;
    }
    if (strcmp(type, "security-group") == 0) {
        const json_t *o = now ? now : old;
        const char *proj = o ? str_of(o, "parent_uuid") : NULL;
        if ((c.rc = set_add(sources, uuid)) == 0 && proj) {
            c.rc = set_add(sources, proj);
        }
        return c.rc;
    }
    if (strcmp(type, "project") == 0) {
        return set_add(sources, uuid);
    }
    if (strcmp(type, "logical-router") == 0) {
        if ((c.rc = set_add(sources, uuid)) != 0) {
            return c.rc;
        }
        for (int i = 0; i < 2; i++) {
            const json_t *o = i ? now : old;
            size_t j;
            const json_t *ref;
            json_array_foreach(o ? json_object_get(o, "virtual_network_refs") : NULL, j, ref) {
                const char *vu = str_of(ref, "uuid");
                if (vu && compile_model_get(m, vu, NULL) && (c.rc = set_add(sources, vu)) != 0) {
                    return c.rc;
                }
            }
        }
        return 0;
    }
    if (strcmp(type, "service-instance") == 0) {
        for (int i = 0; i < 2; i++) {
            if (affected_si(&c, i ? now : old) != 0) {
                return c.rc;
            }
        }
        return 0;
    }
    if (m->version >= 3 &&
        (strcmp(type, "global-system-config") == 0 || strcmp(type, "global-vrouter-config") == 0)) {
        return affected_v3(&c, type, uuid, old, now);
    }
    if (m->version >= 2) {
        return affected_v2(&c, type, uuid, old, now);
    }
    if (strcmp(type, "global-system-config") == 0) {
        json_object_foreach(m->vn_names, k, v) {
            if ((c.rc = set_add(sources, json_string_value(v))) != 0) {
                return c.rc;
            }
        }
    }
    return 0;
}

json_t *compile_owned_by(const json_t *derived, const json_t *sources)
{
    json_t *res = json_object();
    const char *k;
    json_t *v;
    if (!res) {
        return NULL;
    }
    json_object_foreach((json_t *)derived, k, v) {
        const char *owner = compile_owner(v);
        if (owner && json_object_get(sources, owner) && json_object_set(res, k, v) != 0) {
            json_decref(res);
            return NULL;
        }
    }
    return res;
}

int compile_diff(const json_t *old, const json_t *now, json_t **puts, json_t **deletes)
{
    json_t *p = json_object(), *d = json_array();
    const char *k;
    json_t *v;
    size_t n = 0;
    const char **keys = NULL;
    if (!p || !d) {
        goto err;
    }
    json_object_foreach((json_t *)now, k, v) {
        json_t *o = json_object_get(old, k);
        if ((!o || !json_equal(o, v)) && json_object_set(p, k, v) != 0) {
            goto err;
        }
    }
    keys = sorted_keys(old, &n);
    if (!keys) {
        goto err;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(now, keys[i]) && json_array_append_new(d, json_string(keys[i])) != 0) {
            goto err;
        }
    }
    free(keys);
    *puts = p;
    *deletes = d;
    return 0;
err:
    free(keys);
    json_decref(p);
    json_decref(d);
    return COMPILE_ENOMEM;
}
