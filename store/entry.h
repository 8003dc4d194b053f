/* The layout of the store's raft log entries. An entry carries one client
 * command or, when the leader gathered several writes in one loop
 * iteration, a batch of them, so that one raft entry (one log append, one
 * AppendEntries message per follower, one commit) serves many clients.
 *
 *   single: u32 size, the command, zero padding to a multiple of 8
 *   batch:  u32 STORE_ENTRY_BATCH (never a valid single size), u32 count,
 *           count x {u32 size, the command}, zero padding to a multiple of 8
 *
 * (libraft slices received entries in 8-byte steps, hence the padding; the
 * command codec rejects trailing bytes, hence the sizes.) Integers are
 * big-endian. Every replica reads an entry into the same command list, so
 * the commands of a batch apply exactly as if each had been its own entry;
 * they share the entry's raft index. */
#ifndef STRATA_STORE_ENTRY_H
#define STRATA_STORE_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define STORE_ENTRY_BATCH 0xffffffffu
/* A batch gathers at most this many commands and, unless it is a single
 * command, this many bytes of entry. */
#define STORE_ENTRY_BATCH_CMDS 1024u
#define STORE_ENTRY_BATCH_BYTES (1u << 20)

/* Bytes of the entry carrying 'n' commands of 'total' bytes together. */
size_t store_entry_size(size_t n, size_t total);

/* Writes the entry carrying cmds[0..n) (sizes[i] bytes each; n >= 1) into
 * 'out', which holds store_entry_size(n, sum of sizes) bytes: the single
 * layout when n == 1, else the batch layout. Returns the bytes written. */
size_t store_entry_encode(uint8_t *out, const uint8_t *const cmds[], const size_t sizes[], size_t n);

/* Reads the commands of one entry in order. */
struct store_entry_reader {
    struct cursor c;
    uint32_t left;  /* commands still to read */
    bool batch;
};

/* Starts reading an entry. An entry that follows neither layout reads as
 * one command, the whole entry, which the command codec then rejects (the
 * same way on every replica). */
void store_entry_read_init(struct store_entry_reader *r, const void *data, size_t size);

/* The next command of the entry (a view into it); false when none is left. */
bool store_entry_read_next(struct store_entry_reader *r, const uint8_t **cmd, size_t *size);

#endif
