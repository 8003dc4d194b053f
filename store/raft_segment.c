/* posix_fallocate() for libraft's raft_uv: open segments are prepared as
 * written blocks, not unwritten extents (raft_segment.h).
 *
 * Why: raft_uv 0.15 creates every open segment with posix_fallocate() and
 * then appends to it with O_DIRECT|O_DSYNC. On ext4 the fallocated blocks
 * are unwritten extents, so each append also converts an extent (an inode
 * write, synchronous under O_DSYNC) before its completion, which raft_uv's
 * io_submit often runs inside the call on the node's loop thread. Traced on
 * the bench machine (docs/store-perf.md, "The 1-client tail"), these
 * O_DSYNC writes took p99 3.8 ms and p99.9 12.8 ms from start to completion
 * while the device's own writes were p99 0.23 ms. Writing the segment's
 * zeros once, when it is prepared (in raft_uv's thread pool, ahead of use),
 * makes each later append a plain overwrite: no extent conversion and no
 * inode write.
 *
 * How: libraft imports posix_fallocate dynamically, and a definition in the
 * executable comes first in the lookup, so the one here takes its calls
 * (and every other posix_fallocate call in the process). A call fills only
 * when the fill is switched on, the file was empty before the call (so no
 * existing byte changes: the range reads as zeros either way) and its name,
 * read back through /proc/self/fd, is an open segment; every call first
 * allocates through libc's posix_fallocate, so the contract (an error
 * number returned, errno untouched, EINVAL/EFBIG/ENOSPC checks) is libc's.
 * The zeros go through a second descriptor opened on the same file without
 * raft_uv's O_DSYNC, followed by one fdatasync and a page-cache drop. */
#include "store/raft_segment.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILL_CHUNK (256 * 1024)

typedef int posix_fallocate_fn(int fd, off_t offset, off_t len);

static atomic_bool fill_on;
static atomic_uint_least64_t filled;
static _Atomic(posix_fallocate_fn *) libc_fallocate;
/* Read-only zeros in .bss: reading them costs no memory. */
static const unsigned char zeros[FILL_CHUNK];

void store_raft_segment_fill(bool on)
{
    atomic_store(&fill_on, on);
}

uint64_t store_raft_segment_filled_count(void)
{
    return atomic_load(&filled);
}

bool store_raft_segment_name_is_open(const char *name)
{
    static const char prefix[] = "open-";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) {
        return false;
    }
    const char *p = name + sizeof prefix - 1;
    if (*p == '\0') {
        return false;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
    }
    return true;
}

/* libc's posix_fallocate (the next definition after this executable's), or
 * NULL if the dynamic linker has none. */
static posix_fallocate_fn *libc_posix_fallocate(void)
{
    posix_fallocate_fn *f = atomic_load(&libc_fallocate);
    if (!f) {
        void *sym = dlsym(RTLD_NEXT, "posix_fallocate");
        memcpy(&f, &sym, sizeof f);
        atomic_store(&libc_fallocate, f);
    }
    return f;
}

/* libc's behaviour; without it (never seen), fallocate(2) with mode 0,
 * which is what glibc does first. Returns 0 or an error number. */
static int plain_fallocate(int fd, off_t offset, off_t len)
{
    posix_fallocate_fn *f = libc_posix_fallocate();
    if (f) {
        return f(fd, offset, len);
    }
    int rc;
    do {
        rc = fallocate(fd, 0, offset, len) == 0 ? 0 : errno;
    } while (rc == EINTR);
    return rc;
}

/* True when 'fd' is an empty regular file whose name is an open segment. */
static bool is_new_open_segment(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
        return false;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t size = readlink(link, path, sizeof path - 1);
    if (size <= 0) {
        return false;
    }
    path[size] = '\0';
    const char *slash = strrchr(path, '/');
    return store_raft_segment_name_is_open(slash ? slash + 1 : path);
}

/* Writes zeros over ['offset', 'offset' + 'len') of the file open as 'fd'
 * (a range already allocated and checked by libc) through a descriptor of
 * its own, syncs them and drops them from the page cache. Retries EINTR
 * and short writes. Returns 0 or an error number. */
static int fill_zeros(int fd, off_t offset, off_t len)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int wfd = open(link, O_WRONLY | O_CLOEXEC);
    if (wfd < 0) {
        return errno;
    }
    int rc = 0;
    off_t pos = offset, end = offset + len;
    while (pos < end) {
        size_t n = end - pos < FILL_CHUNK ? (size_t)(end - pos) : FILL_CHUNK;
        ssize_t w = pwrite(wfd, zeros, n, pos);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = errno;
            goto out;
        }
        if (w == 0) {
            rc = EIO; /* a regular file that takes nothing: do not spin */
            goto out;
        }
        pos += w;
    }
    while (fdatasync(wfd) != 0) {
        if (errno != EINTR) {
            rc = errno;
            goto out;
        }
    }
    (void)posix_fadvise(wfd, offset, len, POSIX_FADV_DONTNEED);
out:
    close(wfd);
    return rc;
}

/* posix_fallocate(3): allocates ['offset', 'offset' + 'len') of 'fd'.
 * Returns 0 or an error number and leaves errno as it was. A new raft open
 * segment, while the fill is on, is also written with zeros and synced
 * (the file's contents are the same: zeros). */
int posix_fallocate(int fd, off_t offset, off_t len)
{
    int saved = errno;
    bool fill = atomic_load(&fill_on) && is_new_open_segment(fd);
    int rc = plain_fallocate(fd, offset, len);
    if (rc == 0 && fill) {
        rc = fill_zeros(fd, offset, len);
        if (rc == 0) {
            atomic_fetch_add(&filled, 1);
        }
    }
    errno = saved;
    return rc;
}
