/* Routing-instance objects -> RIB instances and RT membership routes: see
 * ri_config.h. */
#include "routing/control/ri_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ri_sync {
    struct rib *rib;
    uint32_t source;
    uint32_t router_id;
    uint32_t local_as;
    const struct rib_attr *member_attr; /* interned, one reference */
    json_t *configured; /* instance name -> true: in the VPN because of us */
    json_t *members;    /* "target:..." -> true: membership routes originated */
};

static bool rt_listed(const struct rib_rt *v, size_t len, const struct rib_rt *rt)
{
    for (size_t i = 0; i < len; i++) {
        if (memcmp(v[i].b, rt->b, sizeof rt->b) == 0) {
            return true;
        }
    }
    return false;
}

static int rt_push(struct rib_rt *v, size_t *len, const struct rib_rt *rt)
{
    if (rt_listed(v, *len, rt)) {
        return 0;
    }
    if (*len >= RI_CONFIG_RT_MAX) {
        return -1;
    }
    v[(*len)++] = *rt;
    return 0;
}

int ri_config_parse(const json_t *obj, struct ri_config *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const json_t *fq = json_object_get(obj, "fq_name");
    size_t used = 0, i;
    json_t *v;
    if (!json_is_array(fq) || json_array_size(fq) == 0) {
        snprintf(err, err_size, "routing-instance without fq_name");
        return LIB_EINVAL;
    }
    json_array_foreach(fq, i, v) {
        const char *part = json_string_value(v);
        int n = part ? snprintf(out->name + used, sizeof out->name - used, "%s%s", i ? ":" : "", part) : -1;
        if (n <= (int)(i ? 1 : 0) || (size_t)n >= sizeof out->name - used) {
            snprintf(err, err_size, "routing-instance fq_name empty, not text or too long");
            return LIB_EINVAL;
        }
        used += (size_t)n;
    }
    bool have_own = false;
    json_array_foreach(json_object_get(obj, "route_target_refs"), i, v) {
        const char *text = json_string_value(json_array_get(json_object_get(v, "to"), 0));
        const char *dir = json_string_value(json_object_get(json_object_get(v, "attr"), "import_export"));
        struct rib_rt rt;
        if (!text || rib_rt_parse(text, &rt) != 0) {
            snprintf(err, err_size, "%s: malformed route target", out->name);
            return LIB_EINVAL;
        }
        bool imp = !dir || strcmp(dir, "import") == 0;
        bool exp = !dir || strcmp(dir, "export") == 0;
        if ((imp && rt_push(out->imports, &out->imports_len, &rt) != 0) ||
            (exp && rt_push(out->exports, &out->exports_len, &rt) != 0)) {
            snprintf(err, err_size, "%s: more than %d route targets", out->name, RI_CONFIG_RT_MAX);
            return LIB_EINVAL;
        }
        if (!dir && !have_own) {
            /* the number: the last 4 bytes of a type 0 target, else the last 2 */
            uint32_t num = rt.b[0] == 0x00 ? (uint32_t)rt.b[4] << 24 | (uint32_t)rt.b[5] << 16 |
                                                 (uint32_t)rt.b[6] << 8 | rt.b[7]
                                           : (uint32_t)rt.b[6] << 8 | rt.b[7];
            out->rd_number = (uint16_t)(num % 65535u + 1u);
            have_own = true;
        }
    }
    out->vpn = have_own;
    return 0;
}

int ri_sync_create(struct rib *rib, uint32_t source, uint32_t router_id, uint32_t local_as, struct ri_sync **out)
{
    struct ri_sync *s = calloc(1, sizeof *s);
    if (!s) {
        return RIB_ERR_NOMEM;
    }
    s->rib = rib;
    s->source = source;
    s->router_id = router_id;
    s->local_as = local_as;
    s->configured = json_object();
    s->members = json_object();
    struct rib_attr a = {.origin = RIB_ORIGIN_IGP, .nexthop = {.af = 4}};
    a.nexthop.b[0] = (uint8_t)(router_id >> 24);
    a.nexthop.b[1] = (uint8_t)(router_id >> 16);
    a.nexthop.b[2] = (uint8_t)(router_id >> 8);
    a.nexthop.b[3] = (uint8_t)router_id;
    int rc = s->configured && s->members ? rib_attr_intern(rib, &a, &s->member_attr) : RIB_ERR_NOMEM;
    if (rc != 0) {
        json_decref(s->configured);
        json_decref(s->members);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static struct rib_prefix member_prefix(const struct ri_sync *s, const struct rib_rt *rt)
{
    struct rib_prefix p;
    memset(&p, 0, sizeof p);
    p.family = RIB_AF_RTARGET;
    p.plen = 96;
    p.rt_origin_as = s->local_as;
    p.rt = *rt;
    return p;
}

void ri_sync_free(struct ri_sync *s)
{
    if (!s) {
        return;
    }
    struct rib_table *t = rib_vpn_table(s->rib, RIB_AF_RTARGET);
    const char *k;
    json_t *v;
    json_object_foreach(s->members, k, v) {
        struct rib_rt rt;
        if (rib_rt_parse(k, &rt) == 0) {
            struct rib_prefix p = member_prefix(s, &rt);
            if (rib_path_del(t, &p, s->source, 0) != 0) {
                continue; /* already gone */
            }
        }
    }
    rib_attr_unref(s->rib, s->member_attr);
    json_decref(s->configured);
    json_decref(s->members);
    free(s);
}

/* Sets 'name' out of the VPN (no targets, vpn false). */
static int instance_leave(struct ri_sync *s, const char *name)
{
    struct rib_instance *inst = rib_instance_find(s->rib, name);
    struct rib_instance_config none = {.vpn = false};
    return inst ? rib_instance_configure(inst, &none) : 0;
}

int ri_sync_apply(struct ri_sync *s, json_t *instances, size_t *skipped)
{
    struct ri_config *c = malloc(sizeof *c);
    json_t *configured = json_object();
    json_t *members = json_object();
    size_t bad = 0, i;
    json_t *obj;
    int rc = c && configured && members ? 0 : RIB_ERR_NOMEM;
    json_array_foreach(instances, i, obj) {
        if (rc != 0) {
            break;
        }
        char err[128];
        if (ri_config_parse(obj, c, err, sizeof err) != 0 || !c->name[0] || strncmp(c->name, "bgp.", 4) == 0) {
            bad++;
            continue;
        }
        if (!c->vpn) {
            continue; /* left out (and taken out below if it was in) */
        }
        struct rib_instance *inst = rib_instance_find(s->rib, c->name);
        if (!inst && (rc = rib_instance_create(s->rib, c->name, &inst)) != 0) {
            break;
        }
        struct rib_instance_config ic = {
            .rd = rib_rd_make_ip(s->router_id, c->rd_number),
            .import_rts = c->imports,
            .import_len = c->imports_len,
            .export_rts = c->exports,
            .export_len = c->exports_len,
            .vpn = true,
        };
        if ((rc = rib_instance_configure(inst, &ic)) != 0) {
            break;
        }
        json_object_set_new(configured, c->name, json_true());
        for (size_t k = 0; k < c->imports_len; k++) {
            char text[48];
            rib_rt_format(&c->imports[k], text, sizeof text);
            json_object_set_new(members, text, json_true());
        }
    }
    free(c);
    if (rc != 0) {
        json_decref(configured);
        json_decref(members);
        return rc;
    }
    const char *k;
    json_t *v;
    json_object_foreach(s->configured, k, v) {
        if (!json_object_get(configured, k) && (rc = instance_leave(s, k)) != 0) {
            break;
        }
    }
    struct rib_table *t = rib_vpn_table(s->rib, RIB_AF_RTARGET);
    json_object_foreach(members, k, v) {
        struct rib_rt rt;
        if (rc == 0 && !json_object_get(s->members, k) && rib_rt_parse(k, &rt) == 0) {
            struct rib_prefix p = member_prefix(s, &rt);
            rc = rib_path_add(t, &p, s->source, 0, s->member_attr, 0);
        }
    }
    json_object_foreach(s->members, k, v) {
        struct rib_rt rt;
        if (rc == 0 && !json_object_get(members, k) && rib_rt_parse(k, &rt) == 0) {
            struct rib_prefix p = member_prefix(s, &rt);
            if (rib_path_del(t, &p, s->source, 0) != 0) {
                continue; /* already gone */
            }
        }
    }
    if (rc != 0) {
        json_decref(configured);
        json_decref(members);
        return rc;
    }
    json_decref(s->configured);
    json_decref(s->members);
    s->configured = configured;
    s->members = members;
    if (skipped) {
        *skipped = bad;
    }
    return 0;
}

size_t ri_sync_instances(const struct ri_sync *s)
{
    return json_object_size(s->configured);
}

size_t ri_sync_memberships(const struct ri_sync *s)
{
    return json_object_size(s->members);
}
