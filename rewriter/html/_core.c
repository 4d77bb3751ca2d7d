/* The compiled core of the HTML rewriter's hot loop (see core.py for the contract and the pure
 * Python reference it must agree with, byte for byte).
 *
 * skip(buf, pos, flags) -> (pos, start_tags)
 *
 * From ``pos`` in the data state, walk over text, comments, end tags and start tags that the
 * rewriter would leave exactly as they are, and stop at the "<" of the first token Python must
 * look at (or at the end of ``buf``). ``start_tags`` counts the start tags walked over. The tag
 * grammar is the one of tokenizer.TAG_RE (the WHATWG tag states); a token that ends past ``buf``
 * is never walked over. Conservative by design: when in doubt, stop and let Python decide.
 *
 * ``buf`` is latin-1 text (the page's bytes, one character each: PyUnicode 1-byte kind); any
 * other kind makes it stop at once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define F_JS 1     /* on* attributes go to the JS rewriter */
#define F_CSS 2    /* style attributes go to the CSS rewriter */
#define F_ACTIVE 4 /* integrity / nonce are dropped */

/* Tags longer than this are left to Python (which enforces MAX_TAG and fails closed). */
#define LONG_TAG (1 << 16)

static inline int is_ws(unsigned char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }
static inline int is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Does s[a:b], ASCII-lower-cased, equal the NUL-terminated word w? */
static int eq_lower(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, const char *w)
{
    Py_ssize_t len = (Py_ssize_t)strlen(w);
    if (b - a != len)
        return 0;
    for (Py_ssize_t k = 0; k < len; k++)
        if (lower(s[a + k]) != (unsigned char)w[k])
            return 0;
    return 1;
}

static int in_list(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, const char *const *words)
{
    for (; *words; words++)
        if (eq_lower(s, a, b, *words))
            return 1;
    return 0;
}

/* policy.ATTR_DICT_TAGS | treebuilder.TREE_NAMES | tags with their own table rows (object, iframe) */
static const char *const TREE_TAGS[] = {
    "meta", "base", "script", "style", "svg", "math", "font", "title", "textarea", "xmp", "iframe",
    "noembed", "noframes", "noscript", "plaintext", "object", NULL};
/* policy._ANY_TAG entries of kind URL */
static const char *const URL_ATTRS[] = {
    "href", "src", "action", "formaction", "poster", "background", "cite", "longdesc", "manifest",
    "codebase", "xlink:href", "icon", "lowsrc", "dynsrc", NULL};
/* kinds URL_LIST and SRCSET: always looked at */
static const char *const LIST_ATTRS[] = {"ping", "srcset", "imagesrcset", NULL};
static const char *const DROP_ATTRS[] = {"integrity", "nonce", NULL};

/* policy.RELATIVE_URL_RE.match(v, start) where v = s[start0:end] is the value as written
 * (quotes included) and start skips an opening quote: true when the mapper would leave it. */
static int relative_url(const unsigned char *s, Py_ssize_t k, Py_ssize_t end)
{
    while (k < end && s[k] <= 0x20)
        k++;
    if (k >= end)
        return 1;
    unsigned char c = s[k];
    if (c == '/') {
        if (k + 1 >= end)
            return 1;
        unsigned char d = s[k + 1];
        return !(d == '/' || d == '\\' || d == '\t' || d == '\n' || d == '\r' || d == '&');
    }
    if (c == '#' || c == '?' || c == '.')
        return 1;
    if (is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '~' || c == '%' || c == '+' || c == '-') {
        k++;
        while (k < end) {
            c = s[k];
            if (c == ':' || c == '/' || c == '?' || c == '#' || c == '&' || c == '\t' || c == '\n' || c == '\r')
                break;
            k++;
        }
        if (k >= end)
            return 1;
        return c == '/' || c == '?' || c == '#';
    }
    return 0;
}

/* Would the rewriter look at this attribute? vs < 0: no value. [vs, ve) is the value as written. */
static int attr_wanted(const unsigned char *s, Py_ssize_t as, Py_ssize_t ae, Py_ssize_t vs, Py_ssize_t ve, long flags)
{
    if (in_list(s, as, ae, URL_ATTRS)) {
        if (vs < 0 || ve == vs)
            return 0;
        int quoted = s[vs] == '"' || s[vs] == '\'';
        return !relative_url(s, vs + quoted, ve);
    }
    if (in_list(s, as, ae, LIST_ATTRS))
        return vs >= 0;
    if (eq_lower(s, as, ae, "style")) {
        if (!(flags & F_CSS) || vs < 0)
            return 0;
        for (Py_ssize_t k = vs; k < ve; k++)
            if (s[k] == '(' || s[k] == '@' || s[k] == '&')
                return 1;
        return 0;
    }
    if (in_list(s, as, ae, DROP_ATTRS))
        return (flags & F_ACTIVE) != 0;
    if (ae - as >= 5 && eq_lower(s, as, as + 5, "data-")) {
        if (vs < 0 || ve == vs)
            return 0;
        Py_ssize_t h = vs + ((s[vs] == '"' || s[vs] == '\'') ? 1 : 0);
        if (h < ve && s[h] == '&')
            return 1;
        return ve - h >= 4 && eq_lower(s, h, h + 4, "http");
    }
    if (ae - as >= 2 && eq_lower(s, as, as + 2, "on"))
        return (flags & F_JS) != 0;
    return 0;
}

/* Walk one tag from its "<" at i (name starting at j). Returns the index after its ">", or -1 if it
 * ends past n (or is too long); *wanted is set when an attribute needs the rewriter. */
static Py_ssize_t scan_tag(const unsigned char *s, Py_ssize_t i, Py_ssize_t j, Py_ssize_t n, long flags,
                           int check, int *wanted)
{
    Py_ssize_t limit = n - i > LONG_TAG ? i + LONG_TAG : n;
    Py_ssize_t k = j;
    while (k < limit && !(is_ws(s[k]) || s[k] == '/' || s[k] == '>'))
        k++;
    for (;;) {
        while (k < limit && (is_ws(s[k]) || s[k] == '/'))
            k++;
        if (k >= limit)
            return -1;
        if (s[k] == '>')
            return k + 1;
        Py_ssize_t as = k++;
        while (k < limit && !(is_ws(s[k]) || s[k] == '/' || s[k] == '>' || s[k] == '='))
            k++;
        Py_ssize_t ae = k;
        while (k < limit && is_ws(s[k]))
            k++;
        if (k >= limit)
            return -1;
        Py_ssize_t vs = -1, ve = -1;
        if (s[k] == '=') {
            k++;
            while (k < limit && is_ws(s[k]))
                k++;
            if (k >= limit)
                return -1;
            if (s[k] == '"' || s[k] == '\'') {
                const unsigned char *close = memchr(s + k + 1, s[k], (size_t)(limit - k - 1));
                if (close == NULL)
                    return -1;
                vs = k;
                k = (close - s) + 1;
                ve = k;
            } else {
                vs = k;
                while (k < limit && !(is_ws(s[k]) || s[k] == '>'))
                    k++;
                if (k >= limit)
                    return -1;
                ve = k;
            }
        }
        if (check && !*wanted && attr_wanted(s, as, ae, vs, ve, flags))
            *wanted = 1;
    }
}

static PyObject *skip(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "skip(buf, pos, flags)");
        return NULL;
    }
    PyObject *buf = args[0];
    if (!PyUnicode_Check(buf)) {
        PyErr_SetString(PyExc_TypeError, "buf must be str");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long flags = PyLong_AsLong(args[2]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(buf);
    Py_ssize_t tags = 0;
    if (PyUnicode_KIND(buf) != PyUnicode_1BYTE_KIND || pos < 0 || pos > n)
        return Py_BuildValue("(nn)", pos, tags);
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(buf);
    for (;;) {
        const unsigned char *lt = pos < n ? memchr(s + pos, '<', (size_t)(n - pos)) : NULL;
        if (lt == NULL) {
            pos = n;
            break;
        }
        Py_ssize_t i = lt - s;
        pos = i;
        if (i + 1 >= n)
            break;
        unsigned char c = s[i + 1];
        if (is_letter(c)) { /* a start tag */
            Py_ssize_t k = i + 2;
            while (k < n && !(is_ws(s[k]) || s[k] == '/' || s[k] == '>'))
                k++;
            if (k >= n || k - i > LONG_TAG || in_list(s, i + 1, k, TREE_TAGS))
                break;
            int wanted = 0;
            Py_ssize_t end = scan_tag(s, i, i + 1, n, flags, 1, &wanted);
            if (end < 0 || wanted)
                break;
            tags++;
            pos = end;
        } else if (c == '/') { /* an end tag: nothing to do while no injection waits, outside foreign content */
            if (i + 2 >= n || !is_letter(s[i + 2]))
                break;
            int wanted = 0;
            Py_ssize_t end = scan_tag(s, i, i + 2, n, flags, 0, &wanted);
            if (end < 0)
                break;
            pos = end;
        } else if (c == '!') { /* a comment: "<!-->", "<!--->", or up to the first "-->" / "--!>" */
            if (i + 5 >= n || s[i + 2] != '-' || s[i + 3] != '-')
                break;
            Py_ssize_t j = i + 4;
            if (s[j] == '>') {
                pos = j + 1;
                continue;
            }
            if (s[j] == '-' && s[j + 1] == '>') {
                pos = j + 2;
                continue;
            }
            Py_ssize_t end = -1;
            for (Py_ssize_t k = j; k + 2 < n; k++) {
                const unsigned char *dash = memchr(s + k, '-', (size_t)(n - k));
                if (dash == NULL)
                    break;
                k = dash - s;
                if (k + 2 >= n)
                    break;
                if (s[k + 1] == '-' && s[k + 2] == '>') {
                    end = k + 3;
                    break;
                }
                if (s[k + 1] == '-' && s[k + 2] == '!' && k + 3 < n && s[k + 3] == '>') {
                    end = k + 4;
                    break;
                }
            }
            if (end < 0)
                break;
            pos = end;
        } else if (c == '?') {
            break;
        } else { /* "<" then anything else is text */
            pos = i + 1;
        }
    }
    return Py_BuildValue("(nn)", pos, tags);
}

static PyMethodDef methods[] = {
    {"skip", (PyCFunction)(void (*)(void))skip, METH_FASTCALL,
     "skip(buf, pos, flags) -> (pos, start_tags): walk over what the rewriter leaves as it is."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rewriter.html._core",
                                    "Compiled hot loop of the HTML rewriter (see core.py).", -1, methods};

PyMODINIT_FUNC PyInit__core(void) { return PyModule_Create(&module); }
