/* Error codes for every Strata module. Each module keeps one X-macro table
 * (name, negative code, message) in its public header, instantiates the enum
 * with STRATA_ERR_ENUM and defines its strerror with STRATA_ERR_DEFINE; the
 * table registers itself so strata_strerror() names any code. Codes in
 * (-4096, 0) are negative errno / libuv codes. Module ranges:
 *   lib -10000, store -11000, api -12000, compiler -13000, bgp -14000,
 *   rib -14500, xmpp -15000, vrouter -16000 (the agent's proxy -16600),
 *   agent -17000, telemetry -18000. */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

#define STRATA_ERR_ENUM(name, code, msg) name = (code),
#define STRATA_ERR_CASE(name, code, msg) \
    case (code):                         \
        return (msg);

/* Defines 'const char *PREFIX_strerror(int)' from 'LIST' and registers it. */
#define STRATA_ERR_DEFINE(prefix, LIST)                                   \
    const char *prefix##_strerror(int code)                               \
    {                                                                     \
        switch (code) {                                                   \
            LIST(STRATA_ERR_CASE)                                         \
        default:                                                          \
            return 0;                                                     \
        }                                                                 \
    }                                                                     \
    __attribute__((constructor)) static void prefix##_err_register(void) \
    {                                                                     \
        strata_err_register(prefix##_strerror);                           \
    }

#define STRATA_WARN_UNUSED __attribute__((warn_unused_result))

/* Library-wide codes: buffers, cursors, allocation, arguments. */
#define LIB_ERRORS(X)                                          \
    X(LIB_ESHORT, -10001, "input shorter than its encoding")   \
    X(LIB_ENOMEM, -10002, "out of memory")                     \
    X(LIB_ETOOBIG, -10003, "size exceeds the configured limit") \
    X(LIB_EINVAL, -10004, "invalid argument")                  \
    X(LIB_EIO, -10005, "input/output error")                   \
    X(LIB_ENOENT, -10006, "no such file or entry")             \
    X(LIB_EFORMAT, -10007, "malformed input")

enum lib_err { LIB_ERRORS(STRATA_ERR_ENUM) };

const char *lib_strerror(int code);

/* Registers a module's lookup; called from STRATA_ERR_DEFINE constructors. */
void strata_err_register(const char *(*lookup)(int code));

/* Returns a static message for any code: 0, errno/libuv codes, and every
 * registered module's codes; "unknown error" otherwise. Never NULL. */
const char *strata_strerror(int code);

#endif
