/* The XMPP stream layer of the agent channel (RFC 6120 as the Contrail
 * control node and vRouter agent use it): an incremental parser that turns
 * the bytes of one connection, fed in chunks of any size, into the stream
 * header, one complete element tree per stanza, and the stream close; plus
 * the writers for the stream header, stream errors and the close. The parser
 * sits on libxml2's push parser with SAX2 handlers and is safe against
 * hostile peers: DTDs, entity declarations, non-predefined entity
 * references, processing instructions and comments are stream errors
 * (restricted-xml) and never expand; stanza size, nesting depth, attributes
 * per element, elements per stanza and the name dictionary are capped while
 * the bytes arrive. It does no I/O. This header also holds the module's
 * error table (XMPP_ERR_*, range -15000). */
#ifndef STRATA_XMPP_STREAM_H
#define STRATA_XMPP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

#define XMPP_ERRORS(X)                                                      \
    X(XMPP_ERR_STREAM, -15001, "XMPP stream error")                         \
    X(XMPP_ERR_DONE, -15002, "XMPP stream already closed or failed")        \
    X(XMPP_ERR_DECODE, -15003, "stanza does not match the Contrail schema") \
    X(XMPP_ERR_ADDR, -15004, "malformed address, prefix or MAC")            \
    X(XMPP_ERR_RANGE, -15005, "value out of range")                         \
    X(XMPP_ERR_UNSUPPORTED, -15006, "stanza type not supported")            \
    X(XMPP_ERR_TOOMANY, -15007, "more items than the codec holds")          \
    X(XMPP_ERR_STATE, -15008, "not valid in the XMPP session state")        \
    X(XMPP_ERR_NAME, -15009, "invalid node, instance or object name")       \
    X(XMPP_ERR_TEXT, -15010, "text not representable in XML")

enum xmpp_err { XMPP_ERRORS(STRATA_ERR_ENUM) };

const char *xmpp_strerror(int code);

#define XMPP_NS_STREAMS "http://etherx.jabber.org/streams"
#define XMPP_NS_CLIENT "jabber:client"
#define XMPP_NS_SERVER "jabber:server"
#define XMPP_NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"

/* Default caps (docs/xmpp.md explains the choices). */
#define XMPP_DEFAULT_MAX_STANZA_SIZE ((size_t)1 << 20) /* bytes per stanza */
#define XMPP_DEFAULT_MAX_DEPTH 32u                     /* stanza root is 1 */
#define XMPP_DEFAULT_MAX_ATTRS 32u                     /* attrs + xmlns per element */
#define XMPP_DEFAULT_MAX_ELEMENTS 65536u               /* elements per stanza */
#define XMPP_DEFAULT_MAX_NAMES_SIZE ((size_t)256 << 10) /* libxml2 name dictionary */

/* Caps on what one peer can make the parser hold. A zero field takes the
 * default above. max_stanza_size counts raw bytes from the end of the
 * previous stanza (or the stream header) and is checked while bytes
 * arrive, so an oversized stanza is cut after at most max_stanza_size plus
 * one feed slice (64 KiB) bytes. max_names_size bounds libxml2's per-parser
 * dictionary of element and attribute names over the connection's life. */
struct xmpp_stream_limits {
    size_t max_stanza_size;
    unsigned max_depth;
    unsigned max_attrs;
    unsigned max_elements;
    size_t max_names_size;
};

/* Stream error conditions (RFC 6120 §4.9.3). */
#define XMPP_STREAM_CONDS(X)                              \
    X(XMPP_SC_NONE, "")                                   \
    X(XMPP_SC_BAD_FORMAT, "bad-format")                   \
    X(XMPP_SC_CONFLICT, "conflict")                       \
    X(XMPP_SC_CONNECTION_TIMEOUT, "connection-timeout")   \
    X(XMPP_SC_HOST_UNKNOWN, "host-unknown")               \
    X(XMPP_SC_INTERNAL_SERVER_ERROR, "internal-server-error") \
    X(XMPP_SC_INVALID_FROM, "invalid-from")               \
    X(XMPP_SC_INVALID_NAMESPACE, "invalid-namespace")     \
    X(XMPP_SC_INVALID_XML, "invalid-xml")                 \
    X(XMPP_SC_NOT_AUTHORIZED, "not-authorized")           \
    X(XMPP_SC_NOT_WELL_FORMED, "not-well-formed")         \
    X(XMPP_SC_POLICY_VIOLATION, "policy-violation")       \
    X(XMPP_SC_RESOURCE_CONSTRAINT, "resource-constraint") \
    X(XMPP_SC_RESTRICTED_XML, "restricted-xml")           \
    X(XMPP_SC_SYSTEM_SHUTDOWN, "system-shutdown")         \
    X(XMPP_SC_UNDEFINED_CONDITION, "undefined-condition") \
    X(XMPP_SC_UNSUPPORTED_ENCODING, "unsupported-encoding") \
    X(XMPP_SC_UNSUPPORTED_STANZA_TYPE, "unsupported-stanza-type") \
    X(XMPP_SC_UNSUPPORTED_VERSION, "unsupported-version")

#define XMPP_SC_ENUM_(name, str) name,
enum xmpp_stream_cond { XMPP_STREAM_CONDS(XMPP_SC_ENUM_) XMPP_SC_COUNT };
#undef XMPP_SC_ENUM_

/* The wire name of 'cond' ("" for XMPP_SC_NONE, NULL when out of range). */
const char *xmpp_stream_cond_name(enum xmpp_stream_cond cond);
/* Parses a condition element name; XMPP_SC_UNDEFINED_CONDITION when unknown. */
enum xmpp_stream_cond xmpp_stream_cond_parse(const char *name);

/* One attribute. 'ns' is the namespace URI or NULL for an unprefixed one. */
struct xmpp_attr {
    char *name;
    char *ns;
    char *value;
};

/* One element of a received stanza, as the parser builds it.
 * Invariants: name is never NULL; text is NUL-terminated and text_size is
 * strlen-equivalent (the text may contain no NUL: XML forbids it) or text is
 * NULL and text_size 0; children form a singly linked list from first_child
 * through next, child_count long, each with parent == this element. 'text'
 * is all character data directly inside the element (not its children's),
 * concatenated. Everything is heap memory owned by the root. */
struct xmpp_elem {
    char *name; /* local name */
    char *ns;   /* namespace URI, NULL for none */
    struct xmpp_attr *attrs;
    size_t attr_count;
    char *text;
    size_t text_size;
    size_t text_cap;
    struct xmpp_elem *parent;
    struct xmpp_elem *first_child;
    struct xmpp_elem *last_child;
    struct xmpp_elem *next;
    size_t child_count;
};

/* Frees 'e' and its subtree; NULL is accepted. 'e' must be a root (its
 * parent does not reference it any more). */
void xmpp_elem_free(struct xmpp_elem *e);
/* Value of the unprefixed attribute 'name', or NULL. */
const char *xmpp_elem_attr(const struct xmpp_elem *e, const char *name);
/* First child named 'name' in namespace 'ns' (NULL: any namespace), or NULL. */
const struct xmpp_elem *xmpp_elem_child(const struct xmpp_elem *e, const char *name, const char *ns);
/* Text of 'e' ("" when it has none). */
const char *xmpp_elem_text(const struct xmpp_elem *e);
/* Appends 'e' and its subtree to 'out' as XML, declaring each element's
 * namespace where it differs from 'parent_ns' (NULL at a root), with text
 * and attributes escaped. LIB_E* from the buffer, XMPP_ERR_TEXT when a name
 * or text is not valid UTF-8 or holds characters XML cannot carry. */
int xmpp_elem_write(struct buf *out, const struct xmpp_elem *e, const char *parent_ns) STRATA_WARN_UNUSED;

/* Appends 'size' bytes of 's' escaped for XML text ('attr' false) or a
 * double-quoted attribute value ('attr' true), so that a parser returns
 * exactly 's'. XMPP_ERR_TEXT when 's' is not valid UTF-8 or holds a
 * character XML 1.0 cannot carry (controls other than tab, LF, CR; U+FFFE,
 * U+FFFF); nothing is guaranteed appended on error. */
int xmpp_xml_escape(struct buf *out, const char *s, size_t size, bool attr) STRATA_WARN_UNUSED;

/* Strata's resume extension (elements and the header attribute). */
#define XMPP_NS_RESUME "urn:strata:xmpp:resume"

/* The stream header as received or to be sent. Absent attributes are NULL
 * (received) or NULL/"" (to send: omitted). 'content_ns' is jabber:client
 * or jabber:server. */
struct xmpp_stream_header {
    const char *to;
    const char *from;
    const char *id;
    const char *version;
    const char *lang;
    const char *content_ns;
    /* The agent resumes (docs/xmpp.md "Resume after a control-node
     * restart"): attribute resume="1" in XMPP_NS_RESUME. It announces the
     * configuration it holds as its first stanza (CONFIG_HELD), so the
     * control node sends nothing before that. */
    bool resume;
};

/* What the parser reports. Called from inside xmpp_stream_feed(); they may
 * call xmpp_stream_fail() but never feed the same stream. Any may be NULL. */
struct xmpp_stream_ops {
    /* The peer's stream header, valid during the call. */
    void (*open)(void *arg, const struct xmpp_stream_header *h);
    /* A complete depth-1 element; the callee owns 'stanza' and frees it with
     * xmpp_elem_free(). Without this callback stanzas are freed. */
    void (*stanza)(void *arg, struct xmpp_elem *stanza);
    /* The peer sent </stream:stream>. */
    void (*close)(void *arg);
};

enum xmpp_stream_state {
    XMPP_STREAM_WAIT_HEADER, /* nothing or only the XML declaration seen */
    XMPP_STREAM_OPEN,        /* header seen, stanzas flow */
    XMPP_STREAM_CLOSED,      /* peer closed the stream; input refused */
    XMPP_STREAM_FAILED,      /* stream error; input refused */
};

struct xmpp_stream_parser; /* libxml2 context and the stanza under construction */

/* One connection's inbound stream. Invariants: 'p' is non-NULL between
 * init and destroy; once FAILED, 'cond' != XMPP_SC_NONE and no callback
 * fires again. */
struct xmpp_stream {
    struct xmpp_stream_parser *p;
    struct xmpp_stream_limits limits;
    struct xmpp_stream_ops ops;
    void *arg;
    enum xmpp_stream_state state;
    enum xmpp_stream_cond cond;
    char errtext[160];
    uint64_t fed;      /* bytes handed to libxml2 */
    uint64_t boundary; /* parser offset where the current stanza's bytes began */
    uint64_t stanzas;  /* stanzas delivered */
};

/* Initialises 's' with 'limits' (NULL or zero fields: defaults) and the
 * callbacks 'ops' (copied) called with 'arg'. LIB_ENOMEM on failure (then
 * 's' needs no destroy). */
int xmpp_stream_init(struct xmpp_stream *s, const struct xmpp_stream_limits *limits,
                     const struct xmpp_stream_ops *ops, void *arg) STRATA_WARN_UNUSED;
/* Frees everything 's' holds, including a partial stanza; NULL accepted. */
void xmpp_stream_destroy(struct xmpp_stream *s);
/* Parses the next 'size' bytes of the stream, firing callbacks. Returns 0
 * (more input welcome, or the peer closed the stream in these bytes: see
 * xmpp_stream_state), XMPP_ERR_STREAM when the input caused a stream error
 * (xmpp_stream_error() names it; the stream is FAILED), XMPP_ERR_DONE when
 * the stream was already closed or failed (the bytes are ignored). */
int xmpp_stream_feed(struct xmpp_stream *s, const void *data, size_t size) STRATA_WARN_UNUSED;
/* Fails the stream with 'cond' and 'text' (NULL: none): parsing stops at
 * once and no further callback fires. For callbacks that reject what they
 * got (e.g. a 'from' that does not match the peer's certificate). A stream
 * already failed keeps its first condition. */
void xmpp_stream_fail(struct xmpp_stream *s, enum xmpp_stream_cond cond, const char *text);
/* The condition of a FAILED stream (XMPP_SC_NONE otherwise) and its text
 * (never NULL) in '*text' when 'text' is not NULL. */
enum xmpp_stream_cond xmpp_stream_error(const struct xmpp_stream *s, const char **text);

/* Appends the stream header (with the XML declaration) for 'h'; the
 * stream prefix is "stream". LIB_E* or XMPP_ERR_TEXT. */
int xmpp_stream_write_header(struct buf *out, const struct xmpp_stream_header *h) STRATA_WARN_UNUSED;
/* Appends <stream:error> with 'cond' and 'text' (NULL or "": none) followed
 * by </stream:stream>. XMPP_ERR_RANGE for XMPP_SC_NONE or out of range. */
int xmpp_stream_write_error(struct buf *out, enum xmpp_stream_cond cond, const char *text) STRATA_WARN_UNUSED;
/* Appends </stream:stream>. */
int xmpp_stream_write_close(struct buf *out) STRATA_WARN_UNUSED;

#endif
