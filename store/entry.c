/* The raft entry layouts of entry.h: one command, or a batch of commands
 * the leader gathered in one loop iteration. Readers see untrusted bytes
 * (a log written by another process, a frame from a peer) through the
 * checked cursor only; a batch is checked whole before its first command
 * is handed out, so a malformed one is one bad command on every replica. */
#include "store/entry.h"

#include <string.h>

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

size_t store_entry_size(size_t n, size_t total)
{
    return n == 1 ? pad8(4 + total) : pad8(8 + 4 * n + total);
}

size_t store_entry_encode(uint8_t *out, const uint8_t *const cmds[], const size_t sizes[], size_t n)
{
    size_t at = 0, total = 0;
    if (n == 1) {
        be32_store(out, (uint32_t)sizes[0]);
        memcpy(out + 4, cmds[0], sizes[0]);
        at = 4 + sizes[0];
        total = sizes[0];
    } else {
        be32_store(out, STORE_ENTRY_BATCH);
        be32_store(out + 4, (uint32_t)n);
        at = 8;
        for (size_t i = 0; i < n; i++) {
            be32_store(out + at, (uint32_t)sizes[i]);
            memcpy(out + at + 4, cmds[i], sizes[i]);
            at += 4 + sizes[i];
            total += sizes[i];
        }
    }
    size_t end = store_entry_size(n, total);
    memset(out + at, 0, end - at);
    return end;
}

/* True when 'c' (positioned after the batch marker) holds 'count' sized
 * commands followed by fewer than 8 bytes of zero padding. */
static bool batch_valid(struct cursor c, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        uint32_t size;
        if (buf_get_u32(&c, &size) != 0 || buf_skip(&c, size) != 0) {
            return false;
        }
    }
    if (cursor_remaining(&c) >= 8) {
        return false;
    }
    for (size_t i = 0; i < c.size; i++) {
        if (c.p[i] != 0) {
            return false;
        }
    }
    return true;
}

void store_entry_read_init(struct store_entry_reader *r, const void *data, size_t size)
{
    struct cursor c;
    uint32_t first, count;
    cursor_init(&c, data, size);
    r->batch = false;
    r->left = 1;
    r->c = c;
    if (buf_get_u32(&c, &first) != 0) {
        return; /* too short for either layout: the whole entry */
    }
    if (first == STORE_ENTRY_BATCH) {
        if (buf_get_u32(&c, &count) == 0 && count > 0 && batch_valid(c, count)) {
            r->batch = true;
            r->left = count;
            r->c = c;
        }
        return;
    }
    if (first <= cursor_remaining(&c)) {
        cursor_init(&r->c, c.p, first); /* single: the padding is dropped */
    }
}

bool store_entry_read_next(struct store_entry_reader *r, const uint8_t **cmd, size_t *size)
{
    if (r->left == 0) {
        return false;
    }
    r->left--;
    if (!r->batch) {
        *cmd = r->c.p;
        *size = r->c.size;
        return true;
    }
    uint32_t len;
    if (buf_get_u32(&r->c, &len) != 0 || buf_get_view(&r->c, len, cmd) != 0) {
        r->left = 0; /* checked by read_init: cannot happen */
        return false;
    }
    *size = len;
    return true;
}
