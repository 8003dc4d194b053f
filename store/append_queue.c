/* The deferred-append queue of append_queue.h: a FIFO of libraft's append
 * requests, each stamped with the loop pass it arrived in, started in order
 * through raft_io's real append once old enough. */
#include "store/append_queue.h"

#include <stdlib.h>

struct store_append_item {
    struct store_append_item *next;
    struct raft_io_append *req;
    const struct raft_entry *entries;
    unsigned n;
    raft_io_append_cb cb;
    uint64_t pass;
};

void store_append_queue_init(struct store_append_queue *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
    q->pass = 0;
}

int store_append_queue_push(struct store_append_queue *q, struct raft_io_append *req,
                            const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    struct store_append_item *it = malloc(sizeof *it);
    if (!it) {
        return LIB_ENOMEM;
    }
    *it = (struct store_append_item){.req = req, .entries = entries, .n = n, .cb = cb, .pass = q->pass};
    if (q->tail) {
        q->tail->next = it;
    } else {
        q->head = it;
    }
    q->tail = it;
    q->len++;
    return 0;
}

void store_append_queue_pass(struct store_append_queue *q)
{
    q->pass++;
}

size_t store_append_queue_run(struct store_append_queue *q, struct raft_io *io, store_append_start_fn *start,
                              unsigned min_age)
{
    size_t taken = 0;
    while (q->head && (min_age == 0 || q->pass - q->head->pass >= min_age)) {
        struct store_append_item it = *q->head;
        free(q->head);
        q->head = it.next;
        if (!q->head) {
            q->tail = NULL;
        }
        q->len--;
        taken++;
        int rc = start(io, it.req, it.entries, it.n, it.cb);
        if (rc != 0) {
            /* The caller returned 0 for this append long ago: the failure
             * reaches libraft the way an asynchronous I/O error does. */
            it.req->cb = it.cb;
            it.cb(it.req, rc);
        }
    }
    return taken;
}

bool store_append_queue_empty(const struct store_append_queue *q)
{
    return q->head == NULL;
}
