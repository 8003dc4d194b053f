/* Unit tests for the written raft segments (store/raft_segment.h), on files
 * in a directory under the test's working directory (the build tree, on
 * disk): posix_fallocate() on a new open segment, with the fill on,
 * returns a file of the asked size that reads as zeros and whose extents
 * are all written (FIEMAP: none unwritten), and counts it; every other
 * call keeps libc's behaviour: another name, a segment that already holds
 * data (its bytes unchanged), the fill switched off, and the error numbers
 * (returned, errno untouched). The last test runs libraft itself: a
 * single-voter raft on raft_uv commits an entry, and the open segment raft_uv
 * prepared for it has no unwritten extent and was counted, which shows that
 * libraft's own posix_fallocate calls reach this executable's definition.
 * Where the file system has no FIEMAP or no unwritten extents (tmpfs), the
 * extent checks are skipped and the rest still runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "store/raft_segment.h"

#define EXT4_MAGIC 0xEF53
#define XFS_MAGIC 0x58465342
#define FIEMAP_MAX 64

static char dir[64];

/* Unwritten extents of the file at 'path': their count, or -1 when the
 * file system does not answer FIEMAP. */
static int unwritten_extents(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t size = sizeof(struct fiemap) + FIEMAP_MAX * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, size);
    assert_non_null(fm);
    fm->fm_start = 0;
    fm->fm_length = FIEMAP_MAX_OFFSET;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = FIEMAP_MAX;
    int count = -1;
    if (ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
        count = 0;
        for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
            if (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) {
                count++;
            }
        }
    }
    free(fm);
    close(fd);
    return count;
}

/* True when plain fallocate on this directory's file system leaves
 * unwritten extents (ext4, XFS), so "unwritten" tells the two apart. */
static bool fs_has_unwritten(void)
{
    struct statfs sf;
    assert_int_equal(statfs(dir, &sf), 0);
    return sf.f_type == EXT4_MAGIC || sf.f_type == XFS_MAGIC;
}

static void path_of(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* Creates 'name' as raft_uv does (O_WRONLY|O_CREAT|O_EXCL|O_DSYNC). */
static int create(const char *name)
{
    char path[128];
    path_of(path, sizeof path, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_DSYNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    return fd;
}

static void assert_zeros(const char *name, off_t from, off_t size)
{
    char path[128];
    path_of(path, sizeof path, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, from + size);
    static unsigned char buf[65536];
    for (off_t pos = from; pos < from + size;) {
        ssize_t n = pread(fd, buf, sizeof buf, pos);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++) {
            assert_int_equal(buf[i], 0);
        }
        pos += n;
    }
    close(fd);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "raft-segment-XXXXXX");
    assert_non_null(mkdtemp(dir));
    store_raft_segment_fill(true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_raft_segment_fill(false);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void test_name(void **state)
{
    (void)state;
    assert_true(store_raft_segment_name_is_open("open-1"));
    assert_true(store_raft_segment_name_is_open("open-18446744073709551615"));
    assert_false(store_raft_segment_name_is_open("open-"));
    assert_false(store_raft_segment_name_is_open("open-1a"));
    assert_false(store_raft_segment_name_is_open("open-1.tmp"));
    assert_false(store_raft_segment_name_is_open("xopen-1"));
    assert_false(store_raft_segment_name_is_open("open1"));
    assert_false(store_raft_segment_name_is_open(".probe"));
    assert_false(store_raft_segment_name_is_open("0000000000000001-0000000000000002"));
    assert_false(store_raft_segment_name_is_open(""));
}

/* A new open segment is allocated, zeroed and written out. */
static void test_fills_new_segment(void **state)
{
    (void)state;
    uint64_t before = store_raft_segment_filled_count();
    int fd = create("open-12");
    errno = 12345;
    assert_int_equal(posix_fallocate(fd, 0, 1 << 20), 0);
    assert_int_equal(errno, 12345);
    close(fd);
    assert_int_equal(store_raft_segment_filled_count(), before + 1);
    assert_zeros("open-12", 0, 1 << 20);
    char path[128];
    path_of(path, sizeof path, "open-12");
    int unwritten = unwritten_extents(path);
    if (unwritten >= 0) {
        assert_int_equal(unwritten, 0);
    }
}

/* Other names, a segment with data and the fill switched off: libc's
 * allocation only (unwritten extents where the file system has them). */
static void test_plain_otherwise(void **state)
{
    (void)state;
    uint64_t before = store_raft_segment_filled_count();
    char path[128];

    int fd = create("other");
    assert_int_equal(posix_fallocate(fd, 0, 1 << 20), 0);
    close(fd);
    assert_zeros("other", 0, 1 << 20);
    path_of(path, sizeof path, "other");
    if (fs_has_unwritten()) {
        assert_true(unwritten_extents(path) > 0);
    }

    /* An open segment that already holds data keeps it. */
    fd = create("open-3");
    static const char data[] = "raft entries";
    assert_int_equal(pwrite(fd, data, sizeof data, 0), (ssize_t)sizeof data);
    assert_int_equal(posix_fallocate(fd, 4096, 1 << 20), 0);
    close(fd);
    path_of(path, sizeof path, "open-3");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char back[sizeof data];
    assert_int_equal(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    assert_memory_equal(back, data, sizeof data);
    close(fd);
    assert_zeros("open-3", 4096, 1 << 20);
    if (fs_has_unwritten()) {
        assert_true(unwritten_extents(path) > 0);
    }

    store_raft_segment_fill(false);
    fd = create("open-4");
    assert_int_equal(posix_fallocate(fd, 0, 1 << 20), 0);
    close(fd);
    path_of(path, sizeof path, "open-4");
    if (fs_has_unwritten()) {
        assert_true(unwritten_extents(path) > 0);
    }
    store_raft_segment_fill(true);

    assert_int_equal(store_raft_segment_filled_count(), before);
}

/* Errors are libc's: returned as error numbers, errno unchanged, and a
 * refused call fills nothing. */
static void test_errors(void **state)
{
    (void)state;
    uint64_t before = store_raft_segment_filled_count();
    errno = 0;
    assert_int_equal(posix_fallocate(-1, 0, 4096), EBADF);
    assert_int_equal(errno, 0);
    int fd = create("open-7");
    assert_int_equal(posix_fallocate(fd, 0, 0), EINVAL);
    assert_int_equal(posix_fallocate(fd, -1, 4096), EINVAL);
    close(fd);
    /* A read-only descriptor of a new segment. */
    char path[128];
    path_of(path, sizeof path, "open-7");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(posix_fallocate(fd, 0, 4096), EBADF);
    close(fd);
    assert_int_equal(errno, 0);
    assert_int_equal(store_raft_segment_filled_count(), before);
}

/* ---- libraft's own calls ---- */

struct one {
    uv_loop_t loop;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uv_timer_t deadline;
    struct raft_apply req;
    bool applied, expired, closed;
    int status;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    (void)fsm;
    (void)buf;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    (void)fsm;
    (void)bufs;
    (void)n;
    return RAFT_NOMEM; /* never asked for: the threshold is not reached */
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    raft_free(buf->base);
    return 0;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)result;
    struct one *o = req->data;
    o->applied = true;
    o->status = status;
}

static void deadline_cb(uv_timer_t *t)
{
    struct one *o = t->data;
    o->expired = true;
}

static void raft_closed(struct raft *r)
{
    struct one *o = r->data;
    o->closed = true;
}

/* Skipped under valgrind: libraft 0.15's raft_uv writes the unset bytes of
 * its own block buffers (memalign'd, never cleared) at bootstrap, which
 * valgrind reports inside libraft; the plain and ASAN+UBSAN runs cover it. */
static void test_raft_uv_prepares_written_segment(void **state)
{
    (void)state;
    if (getenv("STRATA_UNDER_VALGRIND")) {
        skip();
    }
    uint64_t before = store_raft_segment_filled_count();
    struct one *o = calloc(1, sizeof *o);
    assert_non_null(o);
    char raft_dir[128];
    path_of(raft_dir, sizeof raft_dir, "raft");
    assert_int_equal(mkdir(raft_dir, 0700), 0);
    assert_int_equal(uv_loop_init(&o->loop), 0);
    assert_int_equal(raft_uv_tcp_init(&o->transport, &o->loop), 0);
    assert_int_equal(raft_uv_init(&o->io, &o->loop, raft_dir, &o->transport), 0);
    o->fsm.version = 1;
    o->fsm.apply = fsm_apply;
    o->fsm.snapshot = fsm_snapshot;
    o->fsm.restore = fsm_restore;
    const char *address = "127.0.0.1:0";
    assert_int_equal(raft_init(&o->raft, &o->io, &o->fsm, 1, address), 0);
    o->raft.data = o;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    assert_int_equal(raft_configuration_add(&conf, 1, address, RAFT_VOTER), 0);
    assert_int_equal(raft_bootstrap(&o->raft, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_start(&o->raft), 0);

    uv_timer_init(&o->loop, &o->deadline);
    o->deadline.data = o;
    uv_timer_start(&o->deadline, deadline_cb, 20000, 0);
    while (raft_state(&o->raft) != RAFT_LEADER && !o->expired) {
        uv_run(&o->loop, UV_RUN_ONCE);
    }
    assert_false(o->expired);
    struct raft_buffer buf = {.len = 8, .base = raft_malloc(8)};
    assert_non_null(buf.base);
    memset(buf.base, 7, 8);
    o->req.data = o;
    assert_int_equal(raft_apply(&o->raft, &o->req, &buf, 1, apply_cb), 0);
    while (!o->applied && !o->expired) {
        uv_run(&o->loop, UV_RUN_ONCE);
    }
    assert_true(o->applied);
    assert_int_equal(o->status, 0);

    /* The segment the entry went to, while raft_uv still has it open. */
    char seg[160];
    snprintf(seg, sizeof seg, "%s/open-1", raft_dir);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    assert_true(st.st_size > 0);
    assert_true(store_raft_segment_filled_count() >= before + 1);
    int unwritten = unwritten_extents(seg);
    if (unwritten >= 0) {
        assert_int_equal(unwritten, 0);
    }

    uv_timer_stop(&o->deadline);
    uv_close((uv_handle_t *)&o->deadline, NULL);
    raft_close(&o->raft, raft_closed);
    while (!o->closed) {
        uv_run(&o->loop, UV_RUN_ONCE);
    }
    raft_uv_close(&o->io);
    raft_uv_tcp_close(&o->transport);
    uv_run(&o->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&o->loop), 0);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test_setup_teardown(test_fills_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_otherwise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raft_uv_prepares_written_segment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
