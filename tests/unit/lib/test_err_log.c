/* Unit tests for lib/err (X-macro tables, registry) and lib/log (logfmt
 * lines, levels, quoting, journald prefix). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "lib/err.h"
#include "lib/log.h"

#define TEST_ERRORS(X)                       \
    X(TEST_EONE, -19901, "first test error") \
    X(TEST_ETWO, -19902, "second test error")
enum test_err { TEST_ERRORS(STRATA_ERR_ENUM) };
const char *test_strerror(int code);
STRATA_ERR_DEFINE(test, TEST_ERRORS)

static void test_err_tables(void **state)
{
    assert_string_equal(strata_strerror(0), "success");
    assert_string_equal(strata_strerror(LIB_ESHORT), "input shorter than its encoding");
    assert_string_equal(strata_strerror(TEST_ETWO), "second test error");
    assert_string_equal(test_strerror(TEST_EONE), "first test error");
    assert_null(test_strerror(LIB_ESHORT));
    assert_string_equal(strata_strerror(UV_ECONNREFUSED), "Connection refused");
    assert_string_equal(strata_strerror(UV_EOF), "end of file");
    assert_string_equal(strata_strerror(-29999), "unknown error");
    assert_non_null(strata_strerror(-4000));
}

static char *log_capture(void (*emit)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_set_fd(fds[1]);
    emit();
    log_set_fd(-1);
    close(fds[1]);
    char *out = calloc(1, 8192);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], out + n, 8191 - n)) > 0) {
        n += (size_t)r;
    }
    close(fds[0]);
    return out;
}

static void emit_levels(void)
{
    log_set_level(LOG_LEVEL_WARN);
    log_info("test", "dropped", NULL);
    log_warn("test", "kept \"quoted\"\n", "peer=%s n=%d", "10.0.0.1", 7);
    log_set_level(LOG_LEVEL_INFO);
}

static void test_log_format(void **state)
{
    unsetenv("JOURNAL_STREAM");
    char *out = log_capture(emit_levels);
    assert_null(strstr(out, "dropped"));
    assert_non_null(strstr(out, "level=warn module=test msg=\"kept \\\"quoted\\\"\\n\" peer=10.0.0.1 n=7\n"));
    assert_true(strncmp(out, "ts=", 3) == 0);
    free(out);
}

static void emit_error(void)
{
    log_error("store", "disk full", "path=%s", "/var/lib/strata");
}

static void test_log_journald(void **state)
{
    setenv("JOURNAL_STREAM", "8:1234", 1);
    char *out = log_capture(emit_error);
    unsetenv("JOURNAL_STREAM");
    assert_string_equal(out, "<3>level=error module=store msg=\"disk full\" path=/var/lib/strata\n");
    free(out);
}

static void test_log_quote_and_levels(void **state)
{
    char q[8];
    assert_string_equal(log_quote(q, sizeof q, "abcdefghij"), "\"abcde\"");
    assert_string_equal(log_quote(q, sizeof q, "a\x01"), "\"a\\x01\"");
    assert_string_equal(log_quote(q, 2, "x"), "");
    enum log_level level = LOG_LEVEL_ERROR;
    assert_int_equal(log_level_parse("debug", &level), 0);
    assert_int_equal(level, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("verbose", &level), LIB_EINVAL);
    assert_int_equal(log_level_parse(NULL, &level), LIB_EINVAL);
}

static void emit_long(void)
{
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_info("test", "long", "v=%s", big);
}

static void test_log_truncates_long_lines(void **state)
{
    char *out = log_capture(emit_long);
    size_t len = strlen(out);
    assert_true(len <= 4096);
    assert_int_equal(out[len - 1], '\n');
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_tables),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_log_journald),
        cmocka_unit_test(test_log_quote_and_levels),
        cmocka_unit_test(test_log_truncates_long_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
