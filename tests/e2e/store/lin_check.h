/* A linearizability checker for histories of one key-value register, used by
 * the store's e2e tests (test_store_lin.c) to judge what concurrent clients
 * observed while a nemesis broke the cluster. Linearizability is
 * compositional, so callers split a multi-key history by key and check each
 * key on its own.
 *
 * An operation is an interval [invoke, complete] in which it must take
 * effect atomically. An operation whose outcome the client never learned
 * (timeout, lost connection, "not leader" after submission) is
 * indeterminate: complete = LIN_PENDING, and it may take effect at any
 * moment after its invoke, or never. Indeterminate reads tell nothing and
 * should be left out by the caller.
 *
 * The search is Wing & Gong's with Lowe's just-in-time linearization and a
 * memo of visited (set of linearized ops, register value) configurations,
 * the algorithm Knossos and Porcupine use. It is exponential in the worst
 * case, so it is bounded by a budget of memo entries: past it the verdict
 * is LIN_EBUDGET ("inconclusive"), never a pass. */
#ifndef STRATA_TESTS_LIN_CHECK_H
#define STRATA_TESTS_LIN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/err.h"

#define LIN_ERRORS(X)                                                                  \
    X(LIN_EVIOLATION, -11901, "history is not linearizable")                          \
    X(LIN_EBUDGET, -11902, "linearizability check inconclusive: state budget exceeded") \
    X(LIN_EINVAL, -11903, "malformed history")

enum lin_err { LIN_ERRORS(STRATA_ERR_ENUM) };

const char *lin_strerror(int code);

/* The register's value: a caller-chosen id >= 0, or LIN_ABSENT (no key). */
#define LIN_ABSENT (-1)
/* 'complete' of an indeterminate operation. */
#define LIN_PENDING UINT64_MAX

enum lin_kind {
    LIN_READ = 1,  /* observed 'value' (LIN_ABSENT: the key did not exist) */
    LIN_WRITE = 2, /* set the register to 'value' */
    LIN_CAS = 3,   /* if register == 'expected' set it to 'value'; 'ok' tells
                      which happened (ignored when indeterminate) */
};

struct lin_op {
    int process;       /* the client that issued it (reports only) */
    uint64_t invoke;   /* any monotonic clock, same for every op */
    uint64_t complete; /* >= invoke, or LIN_PENDING */
    uint8_t kind;      /* enum lin_kind */
    bool ok;           /* CAS: succeeded */
    int64_t value;
    int64_t expected;  /* CAS */
};

struct lin_result {
    size_t states;     /* memo entries explored (all passes) */
    size_t dropped;    /* indeterminate writes never observed, checked as
                          never taking effect in the first pass */
    size_t longest;    /* ops in the longest linearized prefix found */
    size_t stuck_op;   /* LIN_EVIOLATION: index of an op that could not be
                          linearized at the end of that prefix */
};

/* Checks whether 'ops' (any order, 'len' of them) is linearizable for a
 * register that starts as 'initial'. At most 'budget' memo entries are
 * created (0: a default of 4 million). Returns 0 (linearizable),
 * LIN_EVIOLATION, LIN_EBUDGET, LIN_EINVAL (bad kind or complete < invoke)
 * or LIB_ENOMEM. Fills '*res' when not NULL.
 *
 * Indeterminate writes and CASes whose value no read or CAS observed are
 * first checked as never having taken effect: if that passes, the history
 * is linearizable; otherwise the exact check with them runs. */
int lin_check(const struct lin_op *ops, size_t len, int64_t initial, size_t budget,
              struct lin_result *res) STRATA_WARN_UNUSED;

/* Prints 'ops' sorted by invoke time, one per line, times (taken to be
 * nanoseconds) in ms relative to the first invoke, marking 'mark' (an
 * index, or SIZE_MAX for none). */
void lin_print(FILE *out, const struct lin_op *ops, size_t len, size_t mark);

#endif
