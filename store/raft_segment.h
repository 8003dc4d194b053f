/* Written raft log segments (docs/store-perf.md, "Written segments").
 * libraft 0.15's raft_uv prepares each open segment ("open-N", 8 MiB) in
 * its thread pool with posix_fallocate() and later writes entries into it
 * with O_DIRECT|O_DSYNC. fallocate leaves the blocks unwritten, so on ext4
 * every append also converts an extent, and the O_DSYNC write then has to
 * write the inode as well as flush the cache before it completes, often
 * inside io_submit on the node's loop thread. raft_segment.c defines
 * posix_fallocate() in the executable, which takes libraft's dynamic calls
 * to it: once a store node has switched the fill on, a new, empty file
 * named like an open segment is allocated, written with zeros and synced
 * there, in raft_uv's thread pool, so each later append overwrites written
 * blocks and needs no metadata write. Everything else gets libc's
 * posix_fallocate. */
#ifndef STRATA_STORE_RAFT_SEGMENT_H
#define STRATA_STORE_RAFT_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

/* Switches the zero fill of raft_uv's open segments on or off for the whole
 * process (off until called; store_node_create switches it on). Safe from
 * any thread. */
void store_raft_segment_fill(bool on);

/* How many segments this process has allocated and zero-filled so far. */
uint64_t store_raft_segment_filled_count(void);

/* True when 'name' (a file name, no directory) is a raft_uv open segment:
 * "open-" followed by one or more decimal digits and nothing else. */
bool store_raft_segment_name_is_open(const char *name);

#endif
