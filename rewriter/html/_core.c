/* The compiled core of the HTML rewriter's hot loop (see core.py for the contract and the pure
 * Python reference it must agree with, byte for byte).
 *
 * skip(buf, pos, flags, memo) -> (pos, start_tags, edits, urls)
 *
 * From ``pos`` in the data state, walk over text, comments, end tags and start tags that the
 * rewriter would leave exactly as they are, and stop at the "<" of the first token Python must
 * look at (or at the end of ``buf``). ``start_tags`` counts the start tags walked over. With a
 * ``memo`` (the rewriter's dict: plain URL head -> mapped head), a start tag whose only attributes
 * to rewrite are plain URLs with a remembered head (URL attributes, data-* values that are a
 * whole absolute http(s) URL as written, srcset candidates) is walked over too, and ``edits``
 * lists the value replacements ``(start, end, text)`` (None when there are none); ``urls`` counts
 * the URLs they map. A <meta> that declares nothing, the RCDATA / RAWTEXT elements whose text is
 * passed through (to their end tag) and a <script> with no text are walked over as well; so is, as
 * far as ``flags`` tell what the rewriter's callables do (F_JS_WORDS, F_UTF8, F_KEEP_NONCE,
 * F_RAW_WALK), script and style text they would pass unchanged: data blocks, scripts without the
 * JS rewriter's words, <style> text without a URL function, handlers without the words, kept
 * nonces (core.py, _script_end and css_text_wanted, is the reference). With
 * ``learn``, a head the memo lacks is learnt (learn(url, head_end) fills the memo) instead of
 * stopping the walk. The tag
 * grammar is the one of tokenizer.TAG_RE (the WHATWG tag states); a token that ends past ``buf``
 * is never walked over. Conservative by design: when in doubt, stop and let Python decide.
 *
 * ``buf`` is latin-1 text (the page's bytes, one character each: PyUnicode 1-byte kind); any
 * other kind makes it stop at once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <stdint.h>

#define F_JS 1     /* on* attributes go to the JS rewriter */
#define F_CSS 2    /* style attributes go to the CSS rewriter */
#define F_ACTIVE 4 /* integrity / nonce are dropped */
#define F_JS_WORDS 8 /* the JS rewriter passes a text without any of JS_WORDS unchanged */
#define F_UTF8 16 /* the document is UTF-8 (or not yet known): scripts go to the JS rewriter as bytes */
#define F_KEEP_NONCE 32 /* nonce attributes stay (the page's CSP is kept in force) */
#define F_RAW_WALK 64 /* <script> / <style> text up to RAW_WALK_MAX may be read */
#define F_CSS_URLS 128 /* the CSS rewriter maps each URL through the rewriter's mapper, nothing else (style_edit) */
#define F_CODEC_LOCKED 256 /* the charset is settled: <meta charset> and a harmless http-equiv change nothing */
#define RAW_WALK_MAX (1 << 20)

/* Tags longer than this are left to Python (which enforces MAX_TAG and fails closed). */
#define LONG_TAG (1 << 16)

static inline int is_ws(unsigned char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }

/* Character classes of the tag grammar, one table lookup per character in the scanning loops. */
#define C_WS 1
#define C_SLASH 2
#define C_GT 4
#define C_EQ 8
static unsigned char CC[256]; /* filled by the module's init */

static void init_classes(void)
{
    const char *ws = "\t\n\f\r ";
    for (; *ws; ws++)
        CC[(unsigned char)*ws] = C_WS;
    CC['/'] = C_SLASH;
    CC['>'] = C_GT;
    CC['='] = C_EQ;
}
#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/* The first index in [k, limit) whose character is in the classes ``mask`` (C_WS among them), or
 * limit: tokenizer.TAG_RE's name and value runs. 16 characters a step: the characters up to
 * 0x20 (the whitespace among them) and those of the other classes are picked out together,
 * then checked against CC. */
static inline Py_ssize_t until_class(const unsigned char *s, Py_ssize_t k, Py_ssize_t limit, unsigned char mask)
{
#ifdef HAVE_SSE2
    const __m128i top = _mm_set1_epi8(0x20);
    while (limit - k >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + k));
        __m128i m = _mm_cmpeq_epi8(_mm_min_epu8(v, top), v); /* v <= 0x20 */
        if (mask & C_SLASH)
            m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
        if (mask & C_GT)
            m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('>')));
        if (mask & C_EQ)
            m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        while (bits) {
            Py_ssize_t at = k + __builtin_ctz(bits);
            if (CC[s[at]] & mask)
                return at;
            bits &= bits - 1;
        }
        k += 16;
    }
#endif
    while (k < limit && !(CC[s[k]] & mask))
        k++;
    return k;
}

/* The first index of the character c in [k, limit), or -1: memchr, with the first 64 characters
 * looked at in line (most values and text runs between tags are shorter than that). */
static inline Py_ssize_t find_byte(const unsigned char *s, Py_ssize_t k, Py_ssize_t limit, unsigned char c)
{
#ifdef HAVE_SSE2
    const __m128i needle = _mm_set1_epi8((char)c);
    for (int step = 0; step < 4 && limit - k >= 16; step++, k += 16) {
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + k)), needle));
        if (bits)
            return k + __builtin_ctz(bits);
    }
#endif
    if (k >= limit)
        return -1;
    const unsigned char *at = memchr(s + k, c, (size_t)(limit - k));
    return at == NULL ? -1 : at - s;
}

static inline int is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Does s[a:b], ASCII-lower-cased, equal the NUL-terminated (lower-case) word w? Called for every
 * attribute and tag name against short word lists: it stops at the first character that differs. */
static inline int eq_lower(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, const char *w)
{
    Py_ssize_t len = b - a, k = 0;
    for (; k < len; k++)
        if (w[k] == 0 || lower(s[a + k]) != (unsigned char)w[k])
            return 0;
    return w[k] == 0;
}

static int in_list(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, const char *const *words)
{
    for (; *words; words++)
        if (eq_lower(s, a, b, *words))
            return 1;
    return 0;
}

/* A small open-addressing table of lower-case words (tag and attribute names) to bit sets or
 * classes, filled once by the module's init: a name is lower-cased once, as two 64-bit words,
 * and looked up in one or two probes, instead of compared against every word of several lists. */
#define WM_SIZE 256 /* a power of two, well over twice the words in any map */
#define WM_MAX_WORD 15
typedef struct {
    uint64_t key[WM_SIZE][2]; /* the word, NUL-padded to 16 bytes; all zero: a free slot */
    unsigned val[WM_SIZE];
} WordMap;

static inline unsigned wm_hash(uint64_t k0, uint64_t k1)
{
    return (unsigned)(((k0 ^ (k1 * 0x9E3779B97F4A7C15ull)) * 0xFF51AFD7ED558CCDull) >> 56) & (WM_SIZE - 1);
}

/* The first min(b - a, 16) characters of s[a:b], ASCII-lower-cased, NUL-padded, as two words
 * (little-endian: byte r of the name is byte r of the pair); s[:n] is readable. Returns 0 when
 * one of them is a NUL (no word holds one: it is the padding). */
static unsigned char LEN_MASK[17][16]; /* LEN_MASK[l]: l bytes of 0xFF, then zeros (filled by init) */

static inline int lower16(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t n, uint64_t *k0, uint64_t *k1)
{
    Py_ssize_t len = b - a < 16 ? b - a : 16;
#ifdef HAVE_SSE2
    if (n - a >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + a));
        __m128i up = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
        v = _mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20)));
        __m128i keep = _mm_loadu_si128((const __m128i *)LEN_MASK[len]);
        if (_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(v, _mm_setzero_si128()), keep)))
            return 0;
        v = _mm_and_si128(v, keep);
        *k0 = (uint64_t)_mm_cvtsi128_si64(v);
        *k1 = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
        return 1;
    }
#endif
    uint64_t w[2] = {0, 0};
    for (Py_ssize_t k = 0; k < len; k++) {
        unsigned char c = lower(s[a + k]);
        if (c == 0)
            return 0;
        w[k >> 3] |= (uint64_t)c << (8 * (k & 7));
    }
    *k0 = w[0];
    *k1 = w[1];
    return 1;
}

/* Add ``word`` with the bits ``val`` (or-ed into those it has already). */
static void wm_add(WordMap *m, const char *word, unsigned val)
{
    uint64_t k0 = 0, k1 = 0;
    size_t len = strlen(word);
    lower16((const unsigned char *)word, 0, (Py_ssize_t)len, (Py_ssize_t)len, &k0, &k1);
    unsigned h = wm_hash(k0, k1);
    while ((m->key[h][0] | m->key[h][1]) != 0 && !(m->key[h][0] == k0 && m->key[h][1] == k1))
        h = (h + 1) & (WM_SIZE - 1);
    m->key[h][0] = k0;
    m->key[h][1] = k1;
    m->val[h] |= val;
}

static void wm_add_list(WordMap *m, const char *const *words, unsigned val)
{
    for (; *words; words++)
        wm_add(m, *words, val);
}

/* The bits of the name (k0, k1) (lower16 of a name of length len) in m; 0: none of its words. */
static inline unsigned wm_find(const WordMap *m, uint64_t k0, uint64_t k1, Py_ssize_t len)
{
    if (len <= 0 || len > WM_MAX_WORD)
        return 0;
    for (unsigned h = wm_hash(k0, k1);; h = (h + 1) & (WM_SIZE - 1)) {
        if (m->key[h][0] == k0 && m->key[h][1] == k1)
            return m->val[h];
        if ((m->key[h][0] | m->key[h][1]) == 0)
            return 0;
    }
}

/* The bits of s[a:b], ASCII-lower-cased, in m (s[:n] readable); 0 when it is none of its words. */
static inline unsigned wm_get(const WordMap *m, const unsigned char *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t n)
{
    uint64_t k0, k1;
    if (b - a <= 0 || b - a > WM_MAX_WORD || !lower16(s, a, b, n, &k0, &k1))
        return 0;
    return wm_find(m, k0, k1, b - a);
}

/* What a tag name is to the walks (TAG_MAP: bits of the lists it is in, and which tag it is). */
#define TG_TREE 1u        /* TREE_TAGS */
#define TG_FSTOP 2u       /* FOREIGN_STOP */
#define TG_SKIP_STOP 4u   /* SKIP_STOP */
#define TG_RAW 8u         /* RAW_TAGS */
#define TG_SVG_POINT 16u  /* SVG_POINTS */
#define TG_MATH_POINT 32u /* MATH_POINTS */
#define TG_SCRIPT 64u
#define TG_STYLE 128u
#define TG_SVG 256u
#define TG_MATH 512u
#define TG_META 1024u
#define TG_IFRAME 2048u
static WordMap TAG_MAP, ATTR_MAP;

/* policy.ATTR_DICT_TAGS | treebuilder.TREE_NAMES | tags with their own table rows (object, iframe) */
static const char *const TREE_TAGS[] = {
    "meta", "base", "script", "style", "svg", "math", "font", "title", "textarea", "xmp", "iframe",
    "noembed", "noframes", "noscript", "plaintext", "object", NULL};
/* policy._ANY_TAG entries of kind URL */
static const char *const URL_ATTRS[] = {
    "href", "src", "action", "formaction", "poster", "background", "cite", "longdesc", "manifest",
    "codebase", "xlink:href", "icon", "lowsrc", "dynsrc", NULL};
/* kinds URL_LIST and SRCSET: always looked at */
/* kinds URL_LIST and SRCSET (ping, srcset, imagesrcset) are always looked at; integrity and nonce
 * are dropped (ATTR_CLASSES) */

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

/* The characters of an attribute value the walk asks about, as bits (VC: one table lookup per
 * character, or-ed over the value in one pass instead of one pass per question). */
#define V_HIGH 1u  /* past ASCII */
#define V_AMP 2u   /* "&" */
#define V_NUL 4u
#define V_TNR 8u   /* tab, newline, CR */
#define V_FFSP 16u /* form feed, space (with V_TNR: the HTML whitespace) */
#define V_QLG 32u  /* quotes, "<", ">" */
#define V_PCT 64u  /* "%" */
#define V_WS (V_TNR | V_FFSP)
#define VB_UNKNOWN 0x80000000u
static unsigned char VC[256]; /* filled by the module's init */

static void init_value_classes(void)
{
    for (int c = 0x80; c < 256; c++)
        VC[c] = V_HIGH;
    VC['&'] = V_AMP;
    VC[0] = V_NUL;
    VC['\t'] = VC['\n'] = VC['\r'] = V_TNR;
    VC['\f'] = VC[' '] = V_FFSP;
    VC['"'] = VC['\''] = VC['<'] = VC['>'] = V_QLG;
    VC['%'] = V_PCT;
}

/* The V_* bits of s[a:b]. */
static unsigned value_bits(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    unsigned b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (; b - a >= 4; a += 4) {
        b0 |= VC[s[a]];
        b1 |= VC[s[a + 1]];
        b2 |= VC[s[a + 2]];
        b3 |= VC[s[a + 3]];
    }
    for (; a < b; a++)
        b0 |= VC[s[a]];
    return b0 | b1 | b2 | b3;
}

/* The V_* bits of the attribute value s[vs:ve] (quotes excluded), worked out on first use (*vb:
 * VB_UNKNOWN until then). */
static inline unsigned vbits(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, unsigned *vb)
{
    if (*vb == VB_UNKNOWN) {
        int quoted = s[vs] == '"' || s[vs] == '\'';
        *vb = value_bits(s, vs + quoted, ve - quoted);
    }
    return *vb;
}

/* tokenizer.ABS_HTTP_RE.fullmatch(s[a:b]): "http", an optional "s", "://", then one or more
 * characters other than whitespace, quotes, "<" and ">". ``bits``: value_bits(s, a, b) (the
 * prefix holds none of those, so the whole value may be asked). */
static int abs_http(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, unsigned bits)
{
    if (b - a < 8 || !eq_lower(s, a, a + 4, "http"))
        return 0;
    Py_ssize_t k = a + 4;
    if (lower(s[k]) == 's')
        k++;
    if (b - k < 4 || s[k] != ':' || s[k + 1] != '/' || s[k + 2] != '/')
        return 0;
    return !(bits & (V_WS | V_QLG));
}

/* The character references a style value may hold and still be left alone: each reads as a
 * quote or "&", never as part of a function name, "(", "@" or "\\". */
static const char *const STYLE_REFS[] = {"&quot;", "&amp;", "&apos;", "&#39;", "&#34;", "&#x27;", "&#x22;", NULL};

/* core.style_wanted: may the CSS rewriter change the style value s[a:b] (quotes excluded)? A URL
 * in CSS is only in url(), src(), image-set() (or -webkit-image-set()) and @import, and an escape
 * can spell any of them; a value that is ASCII and has none of those names before a "(", no "@",
 * no backslash and no character reference other than STYLE_REFS has no URL. */
static int style_wanted(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    for (Py_ssize_t k = a; k < b; k++) {
        unsigned char c = s[k];
        if (c >= 0x80 || c == '@' || c == '\\')
            return 1;
        if (c == '&') {
            const char *const *r = STYLE_REFS;
            for (; *r; r++) {
                Py_ssize_t len = (Py_ssize_t)strlen(*r);
                if (b - k >= len && memcmp(s + k, *r, (size_t)len) == 0)
                    break;
            }
            if (*r == NULL)
                return 1;
        } else if (c == '(') {
            if (k - a >= 3 && (eq_lower(s, k - 3, k, "url") || eq_lower(s, k - 3, k, "src")))
                return 1;
            if (k - a >= 9 && eq_lower(s, k - 9, k, "image-set"))
                return 1;
        }
    }
    return 0;
}

/* JS_WORDS, core.JS_TRIGGER_WORDS: rewriter/js.py's pre-check passes a text holding none of them
 * (case-sensitive). Each holds an "o": at ``at`` in it, followed there by ``next``. An occurrence of a
 * word holds that "o" at its offset, so the text is read once, from one "o" to the next, and a
 * word is compared only where its "o" and the character after it are. */
static const struct { const char *word; Py_ssize_t len, at; unsigned char next; } JS_WORD_O[] = {
    {"import", 6, 3, 'r'}, {"from", 4, 2, 'm'}, {"location", 8, 1, 'c'}, {"export", 6, 3, 'r'},
    {"postMessage", 11, 1, 's'}, {"sourceMappingURL", 16, 1, 'u'}};
#define N_JS_WORDS 6

/* Does s[a:b] hold one of JS_WORDS? */
static int has_js_word(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    for (Py_ssize_t k = a; k + 1 < b;) {
        Py_ssize_t o = find_byte(s, k, b - 1, 'o'); /* an "o" with a character after it */
        if (o < 0)
            return 0;
        unsigned char next = s[o + 1];
        for (int w = 0; w < N_JS_WORDS; w++) {
            Py_ssize_t q = o - JS_WORD_O[w].at;
            if (JS_WORD_O[w].next == next && q >= a && b - q >= JS_WORD_O[w].len
                && memcmp(s + q, JS_WORD_O[w].word, (size_t)JS_WORD_O[w].len) == 0)
                return 1;
        }
        k = o + 1;
    }
    return 0;
}

/* core.css_text_wanted: may the CSS rewriter change the <style> text s[a:b]? Not without a
 * backslash, "@import" or url( / src( / image-set( (ASCII case-insensitive) in it. */
static int css_text_wanted(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    for (Py_ssize_t k = a; k < b; k++) {
#ifdef HAVE_SSE2 /* on to the next "\\", "@" or "(" (16 characters a step) */
        while (b - k >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + k));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\')), _mm_cmpeq_epi8(v, _mm_set1_epi8('@'))),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('(')));
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (bits) {
                k += __builtin_ctz(bits);
                break;
            }
            k += 16;
        }
        if (k >= b)
            break;
#endif
        unsigned char c = s[k];
        if (c == '\\')
            return 1;
        if (c == '@' && b - k > 6 && eq_lower(s, k + 1, k + 7, "import"))
            return 1;
        if (c == '(') {
            if (k - a >= 3 && (eq_lower(s, k - 3, k, "url") || eq_lower(s, k - 3, k, "src")))
                return 1;
            if (k - a >= 9 && eq_lower(s, k - 9, k, "image-set"))
                return 1;
        }
    }
    return 0;
}

static inline int digit_val(unsigned char c, int base)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (base == 16 && (c | 32) >= 'a' && (c | 32) <= 'f')
        return (c | 32) - 'a' + 10;
    return -1;
}

/* The number of the numeric character reference "&#..." at k (core._NUMERIC_REF_RE), or -1 when
 * there is none; numbers past 0x10FFFF read as 0x110000. *end: the index after its digits. */
static long numeric_ref(const unsigned char *s, Py_ssize_t k, Py_ssize_t b, Py_ssize_t *end)
{
    if (b - k < 3 || s[k] != '&' || s[k + 1] != '#')
        return -1;
    Py_ssize_t j = k + 2;
    int base = 10;
    if ((s[j] == 'x' || s[j] == 'X') && j + 1 < b && digit_val(s[j + 1], 16) >= 0) {
        base = 16;
        j++;
    } else if (digit_val(s[j], 10) < 0)
        return -1;
    long v = 0;
    for (; j < b && digit_val(s[j], base) >= 0; j++)
        if (v <= 0x10FFFF)
            v = v * base + digit_val(s[j], base);
    *end = j;
    return v > 0x10FFFF ? 0x110000 : v;
}

/* core.ref_letter: may a character reference in s[a:b] read as an ASCII letter? */
static int ref_letter(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    const unsigned char *amp;
    for (Py_ssize_t k = a; k < b && (amp = memchr(s + k, '&', (size_t)(b - k))) != NULL;) {
        k = amp - s;
        if (b - k >= 6 && memcmp(s + k, "&fjlig", 6) == 0)
            return 1;
        Py_ssize_t end = k + 1;
        long v = numeric_ref(s, k, b, &end);
        if (v >= 0 && v < 128 && is_letter((unsigned char)v))
            return 1;
        k = end;
    }
    return 0;
}

/* values.javascript_url_body of s[a:b]: where the script of a javascript: URL starts, or -1. */
static Py_ssize_t js_url_body(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t k = a;
    while (k < b && s[k] <= 0x20)
        k++;
    for (const char *w = "javascript:"; *w; w++) {
        while (k < b && (s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
            k++;
        if (k >= b || lower(s[k]) != (unsigned char)*w)
            return -1;
        k++;
    }
    return k;
}

/* What an attribute name is to the walk: its class, worked out once per attribute. A_URL + k is
 * URL_ATTRS[k]; A_SRCSET + k is SRCSET_ATTRS[k]. */
enum {
    A_OTHER = 0, A_URL = 1, A_SRCSET = A_URL + 15, A_IMAGESRCSET, A_PING, A_STYLE, A_INTEGRITY, A_NONCE, A_TYPE,
    A_LANGUAGE, A_HTTP_EQUIV, A_CHARSET, A_SRCDOC, A_DATA, A_ON
};
#define N_URL_ATTRS 14
static const struct { const char *name; int cls; } ATTR_CLASSES[] = {
    {"srcset", A_SRCSET}, {"imagesrcset", A_IMAGESRCSET}, {"ping", A_PING}, {"style", A_STYLE},
    {"integrity", A_INTEGRITY}, {"nonce", A_NONCE}, {"type", A_TYPE}, {"language", A_LANGUAGE},
    {"http-equiv", A_HTTP_EQUIV}, {"charset", A_CHARSET}, {"srcdoc", A_SRCDOC}, {NULL, 0}};

/* ATTR_MAP holds each name of URL_ATTRS and ATTR_CLASSES with its class + 1 (0: none of them). */
static void init_attr_map(void)
{
    for (int k = 0; URL_ATTRS[k]; k++)
        wm_add(&ATTR_MAP, URL_ATTRS[k], (unsigned)(A_URL + k + 1));
    for (int k = 0; ATTR_CLASSES[k].name; k++)
        wm_add(&ATTR_MAP, ATTR_CLASSES[k].name, (unsigned)(ATTR_CLASSES[k].cls + 1));
}

static inline int attr_class(const unsigned char *s, Py_ssize_t as, Py_ssize_t ae, Py_ssize_t n)
{
    uint64_t k0, k1;
    Py_ssize_t len = ae - as;
    if (!lower16(s, as, ae, n, &k0, &k1)) /* a NUL: none of the names below (but "on..." / "data-...") */
        return len >= 2 && lower(s[as]) == 'o' && lower(s[as + 1]) == 'n' ? A_ON
               : len >= 5 && eq_lower(s, as, as + 5, "data-") ? A_DATA : A_OTHER;
    if (len >= 2 && (k0 & 0xFFFF) == ('o' | 'n' << 8))
        return A_ON;
    if (len >= 5 && (k0 & 0xFFFFFFFFFFull) == ((uint64_t)'d' | (uint64_t)'a' << 8 | (uint64_t)'t' << 16
                                               | (uint64_t)'a' << 24 | (uint64_t)'-' << 32))
        return A_DATA;
    unsigned v = wm_find(&ATTR_MAP, k0, k1, len);
    return v ? (int)v - 1 : A_OTHER;
}

/* Would the rewriter look at this attribute (of class cls)? vs < 0: no value. [vs, ve) is the value as written. */
static int attr_wanted(const unsigned char *s, int cls, Py_ssize_t vs, Py_ssize_t ve, long flags, unsigned *vb)
{
    if (cls >= A_URL && cls < A_URL + N_URL_ATTRS) {
        if (vs < 0 || ve == vs)
            return 0;
        int quoted = s[vs] == '"' || s[vs] == '\'';
        if (relative_url(s, vs + quoted, ve))
            return 0;
        Py_ssize_t a = vs + quoted, b = ve - quoted, body = js_url_body(s, a, b);
        if (body < 0)
            return 1;
        /* a javascript: URL: its script goes to the JS rewriter (none: the value stays) */
        if (!(flags & F_JS))
            return 0;
        if (!(flags & F_JS_WORDS) || (vbits(s, vs, ve, vb) & (V_AMP | V_PCT)))
            return 1; /* decoded, percent-decoded: the rewriter reads it */
        return has_js_word(s, body, b);
    }
    if (cls == A_SRCSET || cls == A_IMAGESRCSET || cls == A_PING)
        return vs >= 0;
    if (cls == A_STYLE) {
        if (!(flags & F_CSS) || vs < 0)
            return 0;
        int quoted = s[vs] == '"' || s[vs] == '\'';
        return style_wanted(s, vs + quoted, ve - quoted);
    }
    if (cls == A_INTEGRITY || cls == A_NONCE)
        return (flags & F_ACTIVE) && !((flags & F_KEEP_NONCE) && cls == A_NONCE);
    if (cls == A_DATA) {
        if (vs < 0 || ve == vs)
            return 0;
        int quoted = s[vs] == '"' || s[vs] == '\'';
        Py_ssize_t h = vs + quoted, b = ve - quoted;
        if (h < b && s[h] == '&') { /* a named reference never decodes to "h": only "&#..." may */
            if (h + 1 < b && is_letter(s[h + 1]))
                return 0;
            Py_ssize_t end;
            long v = numeric_ref(s, h, b, &end);
            return v < 0 || v == 'h' || v == 'H';
        }
        if (!(b - h >= 4 && eq_lower(s, h, h + 4, "http")))
            return 0;
        unsigned bits = vbits(s, vs, ve, vb);
        if (bits & (V_AMP | V_HIGH))
            return 1; /* decoded (references, the page's charset): the rewriter reads it */
        return abs_http(s, h, b, bits); /* as written is as read: not a whole absolute URL, never rewritten */
    }
    if (cls == A_ON) { /* a handler: none, or none of the words, stays */
        if (!(flags & F_JS))
            return 0;
        if (!(flags & F_JS_WORDS))
            return 1;
        if (vs < 0 || ve == vs)
            return 0;
        int quoted = s[vs] == '"' || s[vs] == '\'';
        Py_ssize_t a = vs + quoted, b = ve - quoted;
        return has_js_word(s, a, b) || ref_letter(s, a, b); /* a reference may spell a word */
    }
    return 0;
}

/* The memo entries one skip() call has read: most URLs of a page share a few heads, and a head
 * found here costs a memcmp instead of a new str, its hash and a dict lookup. Only entries the
 * memo holds are kept (with a reference); the cache lives for one call, and is emptied whenever
 * learn runs (the only Python code that runs during a walk), so it always says what the memo says. */
#define HC_SIZE 64 /* direct-mapped by a hash of the head: a newer head takes its slot */
typedef struct {
    const unsigned char *head[HC_SIZE]; /* in the walk's buffer */
    Py_ssize_t len[HC_SIZE];
    PyObject *value[HC_SIZE]; /* NULL: a free slot */
} HeadCache;

static void hc_clear(HeadCache *c)
{
    for (int k = 0; k < HC_SIZE; k++)
        Py_CLEAR(c->value[k]);
}

static inline unsigned hc_slot(const unsigned char *p, Py_ssize_t len)
{
    uint32_t h = (uint32_t)len;
    for (Py_ssize_t k = 0; k < len; k++)
        h = h * 31u + p[k];
    return (h ^ (h >> 11) ^ (h >> 22)) & (HC_SIZE - 1);
}

/* An edit of the current tag, kept until the tag is known to be walked over. */
#define MAX_TAG_EDITS 16
typedef struct {
    HeadCache *cache;          /* the call's memo entries read so far, or NULL */
    PyObject *memo;            /* dict or NULL: no edits, any wanted attribute stops */
    PyObject *learn;           /* learn(url, head_end) fills the memo for a head it lacks, or NULL */
    int n;                     /* edits of the current tag */
    Py_ssize_t at[MAX_TAG_EDITS][2];
    PyObject *text[MAX_TAG_EDITS];
    unsigned seen;             /* bit per URL_ATTRS entry seen in the current tag */
    int ndata;                 /* data-* names seen in the current tag (MAX_TAG_EDITS + 1: too many) */
    Py_ssize_t data[MAX_TAG_EDITS][2];
    unsigned list_seen;        /* bit per srcset attribute (A_SRCSET, A_IMAGESRCSET) seen in the current tag; bit 2: style, bit 3: http-equiv */
    Py_ssize_t urls;           /* URLs the edits of the current tag map (a srcset may map several) */
    unsigned stop_attrs;       /* bit per attribute class that makes this tag the rewriter's (<meta http-equiv>) */
    const unsigned char *tag_s; /* the tag being scanned (s, "<" at tag_i, name at tag_j, buffer end tag_n) */
    Py_ssize_t tag_i, tag_j, tag_n;
    int complete;              /* -1: not known yet; 1: the tag ends in the buffer (learning needs it) */
    int failed;                /* a Python error is set */
    unsigned script_seen;      /* bit 0: a "type" attribute seen, bit 1: "language" (the first of each) */
    Py_ssize_t script_attr[2][2]; /* its value as written (quotes included); -1: no value */
} Edits;

static void edits_drop(Edits *e)
{
    for (int k = 0; k < e->n; k++)
        Py_DECREF(e->text[k]);
    e->n = 0;
}


static Py_ssize_t scan_tag(const unsigned char *s, Py_ssize_t i, Py_ssize_t j, Py_ssize_t n, long flags,
                           int check, int *wanted, Edits *e, int *self_closing);

/* policy.URL_HEAD_RE.match(raw) for raw = s[a:b]: where the head (scheme, slashes, authority) ends. */
static Py_ssize_t url_head_end(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    Py_ssize_t k = a;
    while (k < b && s[k] <= 0x20)
        k++;
    if (k < b && is_letter(s[k])) {
        Py_ssize_t j = k + 1;
        while (j < b && (is_letter(s[j]) || (s[j] >= '0' && s[j] <= '9') || s[j] == '+' || s[j] == '.' || s[j] == '-'))
            j++;
        if (j < b && s[j] == ':')
            k = j + 1;
    }
    while (k < b && (s[k] == '/' || s[k] == '\\'))
        k++;
    while (k < b && !(s[k] == '/' || s[k] == '\\' || s[k] == '?' || s[k] == '#'))
        k++;
    return k;
}

/* memo[s[a:b]] when it is a 1-byte str (borrowed), else NULL: not remembered, or False (a
 * javascript: URL, or a head the mapper refused), or a Python error (e->failed). The head is that
 * of the URL s[a:end]; one the memo lacks is learnt first, when there is ``learn``. */
static PyObject *memo_head(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t end, Edits *e)
{
    HeadCache *c = e->cache;
    PyObject *new_head = NULL;
    unsigned slot = 0;
    if (c != NULL) {
        slot = hc_slot(s + a, b - a);
        if (c->value[slot] != NULL && c->len[slot] == b - a && memcmp(c->head[slot], s + a, (size_t)(b - a)) == 0) {
            new_head = c->value[slot];
            goto found;
        }
    }
    PyObject *head = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s + a, b - a);
    if (head == NULL) {
        e->failed = 1;
        return NULL;
    }
    new_head = PyDict_GetItemWithError(e->memo, head); /* borrowed */
    if (new_head == NULL && !PyErr_Occurred() && e->learn != NULL && e->complete < 0) {
        int wanted = 0; /* nothing is learnt from a tag the rewriter has not read: an incomplete one */
        e->complete = scan_tag(e->tag_s, e->tag_i, e->tag_j, e->tag_n, 0, 0, &wanted, NULL, NULL) >= 0;
    }
    if (new_head == NULL && !PyErr_Occurred() && e->learn != NULL && e->complete == 1) {
        PyObject *url = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s + a, end - a);
        if (c != NULL)
            hc_clear(c); /* Python code runs: what was read is read again */
        PyObject *r = url == NULL ? NULL : PyObject_CallFunction(e->learn, "On", url, b - a);
        Py_XDECREF(url);
        if (r == NULL) {
            Py_DECREF(head);
            e->failed = 1;
            return NULL;
        }
        Py_DECREF(r);
        new_head = PyDict_GetItemWithError(e->memo, head);
    }
    Py_DECREF(head);
    if (new_head == NULL) {
        if (PyErr_Occurred())
            e->failed = 1;
        return NULL;
    }
    if (c != NULL) {
        Py_INCREF(new_head);
        Py_XSETREF(c->value[slot], new_head);
        c->head[slot] = s + a;
        c->len[slot] = b - a;
    }
found:
    if (!PyUnicode_Check(new_head) || PyUnicode_KIND(new_head) != PyUnicode_1BYTE_KIND)
        return NULL;
    return new_head;
}

static int splice_heads(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, Py_ssize_t a, Py_ssize_t b,
                        Py_ssize_t (*at)[2], PyObject **heads, int m, Py_ssize_t len, Edits *e);

/* A wanted URL attribute with value s[vs:ve] (quotes included): add its edit from the memo.
 * Returns 1 when handled (edit added, or nothing to change), 0 when Python must look (stop). */
static int plain_url_edit(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, Edits *e, unsigned *vb)
{
    int quoted = s[vs] == '"' || s[vs] == '\'';
    Py_ssize_t rs = vs + quoted, re_ = ve - quoted;
    if (vbits(s, vs, ve, vb) & (V_HIGH | V_TNR | V_NUL))
        return 0;
    Py_ssize_t he = url_head_end(s, rs, re_);
    if (memchr(s + rs, '&', (size_t)(he - rs)) != NULL)
        return 0;
    PyObject *new_head = memo_head(s, rs, he, re_, e);
    if (new_head == NULL)
        return 0;
    Py_ssize_t nh = PyUnicode_GET_LENGTH(new_head);
    const unsigned char *hs = (const unsigned char *)PyUnicode_DATA(new_head);
    if (nh == he - rs && memcmp(hs, s + rs, (size_t)nh) == 0)
        return 1; /* the mapper leaves it */
    Py_ssize_t at[1][2] = {{rs, he}};
    return splice_heads(s, vs, ve, rs, re_, at, &new_head, 1, nh + (re_ - he), e);
}

/* srcset and imagesrcset (A_SRCSET, A_IMAGESRCSET): looked at in every tag (the mapper maps each candidate's URL) */
#define MAX_SRCSET_URLS 32

/* A srcset value s[vs:ve] (quotes included) whose every candidate URL is relative or plain with a
 * remembered head: add the edit HtmlRewriter._srcset_edits would make (the whole value, mapped
 * heads spliced in; none when nothing changes). Candidates as values.srcset_url_spans cuts them.
 * Returns 1 when handled, 0 when Python must look (a reference but "&amp;" outside the heads, a
 * byte past ASCII, a NUL, a head not remembered, a mapped head that would need escaping). */
static int only_amp(const unsigned char *s, Py_ssize_t a, Py_ssize_t b);

/* core._changed_head for the URL s[us:ue]: 1 and a new reference in *new_head (its head ends at
 * *he) when the memo maps its head to another; 0 when the mapper leaves it (relative, or mapped to
 * itself); -1 when Python must look (a reference in the head when ``amp``, which the mapper reads
 * decoded; not remembered; refused; a head past ASCII). */
static int changed_head(const unsigned char *s, Py_ssize_t us, Py_ssize_t ue, int amp, Edits *e, Py_ssize_t *he,
                        PyObject **new_head)
{
    if (relative_url(s, us, ue))
        return 0;
    *he = url_head_end(s, us, ue);
    if (amp && memchr(s + us, '&', (size_t)(*he - us)) != NULL)
        return -1;
    PyObject *h = memo_head(s, us, *he, ue, e);
    if (h == NULL || !PyUnicode_IS_ASCII(h))
        return -1;
    Py_ssize_t nh = PyUnicode_GET_LENGTH(h);
    if (nh == *he - us && memcmp(PyUnicode_DATA(h), s + us, (size_t)nh) == 0)
        return 0;
    Py_INCREF(h);
    *new_head = h;
    return 1;
}

/* core._splice_heads: the value s[vs:ve] (quotes included; its text s[a:b]) with heads[r] in place
 * of s[at[r][0]:at[r][1]], added to e as one edit of the whole value. ``len`` is the new text's
 * length without quotes. Returns 1 when added (or nothing to change), 0 when Python must look. */
static int splice_heads(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, Py_ssize_t a, Py_ssize_t b,
                        Py_ssize_t (*at)[2], PyObject **heads, int m, Py_ssize_t len, Edits *e)
{
    if (m == 0)
        return 1;
    if (e->n >= MAX_TAG_EDITS)
        return 0;
    int quoted = a > vs;
    Py_UCS4 maxchar = 127; /* the value as written is ASCII; a head may be latin-1 (plain_url_edit's) */
    for (int r = 0; r < m; r++)
        if (PyUnicode_MAX_CHAR_VALUE(heads[r]) > maxchar)
            maxchar = PyUnicode_MAX_CHAR_VALUE(heads[r]);
    PyObject *text = PyUnicode_New(len + 2 * quoted, maxchar);
    if (text == NULL) {
        e->failed = 1;
        return 0;
    }
    unsigned char *out = (unsigned char *)PyUnicode_DATA(text);
    Py_ssize_t o = 0, from = a;
    if (quoted)
        out[o++] = s[vs];
    for (int r = 0; r < m; r++) {
        memcpy(out + o, s + from, (size_t)(at[r][0] - from));
        o += at[r][0] - from;
        Py_ssize_t nh = PyUnicode_GET_LENGTH(heads[r]);
        memcpy(out + o, PyUnicode_DATA(heads[r]), (size_t)nh);
        o += nh;
        from = at[r][1];
    }
    memcpy(out + o, s + from, (size_t)(b - from));
    o += b - from;
    if (quoted)
        out[o++] = s[vs];
    e->at[e->n][0] = vs;
    e->at[e->n][1] = ve;
    e->text[e->n] = text;
    e->n++;
    e->urls += m;
    return 1;
}

/* Where a mapped head goes: a srcset value in quotes or not (values.splice would escape or quote a
 * reference, a quote, and unquoted whitespace or ">"), or a style value (style_head_safe). */
#define HEAD_QUOTED 0
#define HEAD_UNQUOTED 1
#define HEAD_STYLE 2
static inline int style_head_safe(unsigned char c);

/* Keep ``new_head`` (a new reference, from changed_head) for the URL head s[start:he]: it goes to
 * heads[*m], its span to at[*m], and *len grows by what it adds. Returns 0, the reference released,
 * when the head would need escaping or quoting where it goes (``where``: HEAD_*). */
static int keep_head(PyObject *new_head, Py_ssize_t start, Py_ssize_t he, int where, Py_ssize_t (*at)[2],
                     PyObject **heads, int *m, Py_ssize_t *len)
{
    Py_ssize_t nh = PyUnicode_GET_LENGTH(new_head);
    const unsigned char *hs = (const unsigned char *)PyUnicode_DATA(new_head);
    for (Py_ssize_t r = 0; r < nh; r++) {
        unsigned char c = hs[r];
        int unsafe = where == HEAD_STYLE ? !style_head_safe(c)
                     : c == '&' || c == '"' || c == '\'' || (where == HEAD_UNQUOTED && (is_ws(c) || c == '>'));
        if (unsafe) {
            Py_DECREF(new_head);
            return 0;
        }
    }
    at[*m][0] = start;
    at[*m][1] = he;
    heads[(*m)++] = new_head;
    *len += nh - (he - start);
    return 1;
}

static int srcset_edit(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, Edits *e, unsigned *vb)
{
    int quoted = s[vs] == '"' || s[vs] == '\'';
    Py_ssize_t a = vs + quoted, b = ve - quoted;
    unsigned bits = vbits(s, vs, ve, vb);
    if (bits & (V_HIGH | V_NUL))
        return 0;
    int amp = (bits & V_AMP) != 0; /* "&amp;" in URL tails and descriptors reads as "&": the same candidates */
    if (amp && !only_amp(s, a, b))
        return 0;
    Py_ssize_t at[MAX_SRCSET_URLS][2]; /* span start and head end of each URL whose head changes */
    PyObject *heads[MAX_SRCSET_URLS];  /* new references (learn may run Python code in between) */
    int m = 0, handled = 0;
    Py_ssize_t len = b - a, i = a;
    for (;;) {
        while (i < b && (is_ws(s[i]) || s[i] == ','))
            i++;
        if (i >= b)
            break;
        Py_ssize_t start = i;
        while (i < b && !is_ws(s[i]))
            i++;
        Py_ssize_t end = i;
        int descriptors = 1;
        if (s[end - 1] == ',') {
            while (s[end - 1] == ',')
                end--;
            descriptors = 0;
        }
        Py_ssize_t he = 0;
        PyObject *new_head = NULL;
        int changed = changed_head(s, start, end, amp, e, &he, &new_head);
        if (changed < 0)
            goto done;
        if (changed) {
            if (m >= MAX_SRCSET_URLS) {
                Py_DECREF(new_head);
                goto done;
            }
            if (!keep_head(new_head, start, he, quoted ? HEAD_QUOTED : HEAD_UNQUOTED, at, heads, &m, &len))
                goto done;
        }
        if (!descriptors)
            continue;
        int in_parens = 0; /* descriptors run to the next comma outside parentheses */
        while (i < b) {
            unsigned char c = s[i++];
            if (in_parens)
                in_parens = c != ')';
            else if (c == '(')
                in_parens = 1;
            else if (c == ',')
                break;
        }
    }
    handled = splice_heads(s, vs, ve, a, b, at, heads, m, len, e);
done:
    for (int r = 0; r < m; r++)
        Py_DECREF(heads[r]);
    return handled;
}

/* style values (core._style_edit): url() values with remembered heads, when F_CSS_URLS */
#define MAX_STYLE_URLS 32
static inline int css_name_char(unsigned char c) { return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-'; }
/* core._STYLE_HEAD_SAFE_RE: a mapped head spliced in as it is (no CSS escape, no reference) */
static inline int style_head_safe(unsigned char c)
{
    return is_letter(c) || (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '/' || c == '_' || c == '[' || c == ']' || c == '-';
}

/* A style value s[vs:ve] (quotes included) whose URLs the CSS rewriter would find only in url(),
 * each relative or plain with a remembered head: add the edit HtmlRewriter._css_edits would make
 * (the whole value, mapped heads spliced in; none when nothing changes). Returns 1 when handled, 0
 * when Python must look: every case core._style_edit gives up on (a reference, an escape, NUL, a
 * byte past ASCII, "@", a comment, a quote outside url(), src() or image-set(), "#url(", a bad url,
 * a control character in a URL, too many URLs, a head not remembered or not safe to splice). */
static int style_edit(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, Edits *e, unsigned *vb)
{
    int quoted = s[vs] == '"' || s[vs] == '\'';
    Py_ssize_t a = vs + quoted, b = ve - quoted;
    if (vbits(s, vs, ve, vb) & (V_HIGH | V_NUL | V_AMP))
        return 0;
    for (Py_ssize_t k = a; k < b; k++)
        if (s[k] == '\\' || s[k] == '@' || (s[k] == '/' && k + 1 < b && s[k + 1] == '*'))
            return 0;
    Py_ssize_t at[MAX_STYLE_URLS][2]; /* span start and head end of each URL whose head changes */
    PyObject *heads[MAX_STYLE_URLS];  /* new references (learn may run Python code in between) */
    int m = 0, found = 0, handled = 0;
    Py_ssize_t len = b - a, k = a;
    while (k < b) {
        unsigned char c = s[k];
        if (c == '"' || c == '\'')
            goto done; /* a string outside url(): the CSS rewriter reads it */
        if (c != '(') {
            k++;
            continue;
        }
        Py_ssize_t i = k;
        while (i > a && css_name_char(s[i - 1]))
            i--;
        Py_ssize_t nl = k - i;
        int is_url = nl == 3 && eq_lower(s, i, k, "url");
        if ((nl == 3 && eq_lower(s, i, k, "src")) || (nl == 9 && eq_lower(s, i, k, "image-set"))
            || (nl == 17 && eq_lower(s, i, k, "-webkit-image-set")) || (is_url && i > a && s[i - 1] == '#'))
            goto done;
        k++;
        if (!is_url)
            continue;
        while (k < b && is_ws(s[k]))
            k++;
        Py_ssize_t us, ue;
        if (k < b && (s[k] == '"' || s[k] == '\'')) { /* url("..."): the string is the URL */
            Py_ssize_t close = find_byte(s, k + 1, b, s[k]);
            if (close < 0)
                goto done;
            us = k + 1;
            ue = close;
            k = close + 1;
        } else { /* a url token: up to whitespace or ")", then only whitespace before the ")" */
            us = k;
            while (k < b && !is_ws(s[k]) && s[k] != ')' && s[k] != '"' && s[k] != '\'' && s[k] != '(')
                k++;
            ue = k;
            while (k < b && is_ws(s[k]))
                k++;
            if (k >= b || s[k] != ')')
                goto done;
            k++;
        }
        for (Py_ssize_t r = us; r < ue; r++)
            if (s[r] < 0x20 || s[r] == 0x7F)
                goto done;
        if (++found > MAX_STYLE_URLS)
            goto done;
        Py_ssize_t he = 0;
        PyObject *new_head = NULL;
        int changed = changed_head(s, us, ue, 0, e, &he, &new_head);
        if (changed < 0)
            goto done;
        if (!changed)
            continue;
        if (!keep_head(new_head, us, he, HEAD_STYLE, at, heads, &m, &len))
            goto done;
    }
    handled = splice_heads(s, vs, ve, a, b, at, heads, m, len, e);
done:
    for (int r = 0; r < m; r++)
        Py_DECREF(heads[r]);
    return handled;
}

/* Remember the data-* name s[as:ae]; 0 when the tag had it already (or has too many to tell). */
static int data_first(const unsigned char *s, Py_ssize_t as, Py_ssize_t ae, Edits *e)
{
    if (e->ndata >= MAX_TAG_EDITS)
        return 0;
    for (int k = 0; k < e->ndata; k++) {
        Py_ssize_t a = e->data[k][0], len = e->data[k][1] - a;
        if (len != ae - as)
            continue;
        Py_ssize_t r = 0;
        while (r < len && lower(s[a + r]) == lower(s[as + r]))
            r++;
        if (r == len)
            return 0;
    }
    e->data[e->ndata][0] = as;
    e->data[e->ndata][1] = ae;
    e->ndata++;
    return 1;
}

/* Does every "&" of s[a:b] start "&amp;"? (core.only_amp) Then the value reads as written with
 * each "&amp;" as "&": no separator, space or quote appears and none goes. */
static int only_amp(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    for (const unsigned char *p = memchr(s + a, '&', (size_t)(b - a)); p != NULL;
         p = memchr(p + 1, '&', (size_t)(s + b - (p + 1)))) {
        if (s + b - p < 5 || memcmp(p, "&amp;", 5) != 0)
            return 0;
    }
    return 1;
}

/* A data-* value s[vs:ve] (quotes included) that is an absolute http(s) URL as written, with no
 * character reference but "&amp;" (core.plain_http): tokenizer.ABS_HTTP_RE matches it whole,
 * decoded or not, and the mapper changes only its head, which holds no "&" (plain_url_edit). */
static int plain_http(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, unsigned *vb)
{
    int quoted = s[vs] == '"' || s[vs] == '\'';
    Py_ssize_t a = vs + quoted, b = ve - quoted;
    unsigned bits = vbits(s, vs, ve, vb);
    /* and nothing decoding could change but "&amp;" in the tail */
    return abs_http(s, a, b, bits) && !(bits & (V_HIGH | V_NUL)) && (!(bits & V_AMP) || only_amp(s, a, b));
}

/* core.meta_harmless: a <meta http-equiv> value s[vs:ve] (quotes included; vs < 0: none) that changes
 * nothing once the charset is settled: not "refresh" nor a CSP name, and no reference or NUL in it. */
static int meta_harmless(const unsigned char *s, Py_ssize_t vs, Py_ssize_t ve, unsigned *vb)
{
    if (vs < 0 || ve == vs)
        return 1;
    int quoted = s[vs] == '"' || s[vs] == '\'';
    Py_ssize_t a = vs + quoted, b = ve - quoted;
    if (vbits(s, vs, ve, vb) & (V_AMP | V_NUL))
        return 0;
    return !(eq_lower(s, a, b, "refresh") || eq_lower(s, a, b, "content-security-policy")
             || eq_lower(s, a, b, "content-security-policy-report-only"));
}

/* Walk one tag from its "<" at i (name starting at j). Returns the index after its ">", or -1 if it
 * ends past n (or is too long); *wanted is set when an attribute needs the rewriter. */
static Py_ssize_t scan_tag(const unsigned char *s, Py_ssize_t i, Py_ssize_t j, Py_ssize_t n, long flags,
                           int check, int *wanted, Edits *e, int *self_closing)
{
    Py_ssize_t limit = n - i > LONG_TAG ? i + LONG_TAG : n;
    Py_ssize_t k = until_class(s, j, limit, C_WS | C_SLASH | C_GT);
    for (;;) {
        Py_ssize_t sep = k;
        while (k < limit && (CC[s[k]] & (C_WS | C_SLASH)))
            k++;
        if (k >= limit)
            return -1;
        if (s[k] == '>') {
            if (self_closing != NULL) /* "/" right before ">", outside any value */
                *self_closing = k > sep && s[k - 1] == '/';
            return k + 1;
        }
        Py_ssize_t as = k;
        k = until_class(s, k + 1, limit, C_WS | C_SLASH | C_GT | C_EQ);
        Py_ssize_t ae = k;
        while (k < limit && (CC[s[k]] & C_WS))
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
                Py_ssize_t close = find_byte(s, k + 1, limit, s[k]);
                if (close < 0)
                    return -1;
                vs = k;
                k = close + 1;
                ve = k;
            } else {
                vs = k;
                k = until_class(s, k, limit, C_WS | C_GT);
                if (k >= limit)
                    return -1;
                ve = k;
            }
        }
        if (!check && e == NULL)
            continue;
        int cls = attr_class(s, as, ae, n);
        if (e != NULL) { /* the first "type" and "language": what a <script> holds (script_kind_of) */
            int w = cls == A_TYPE ? 0 : cls == A_LANGUAGE ? 1 : -1;
            if (w >= 0 && !(e->script_seen & (1u << w))) {
                e->script_seen |= 1u << w;
                e->script_attr[w][0] = vs;
                e->script_attr[w][1] = ve;
            }
        }
        if (check && !*wanted) {
            unsigned vb = VB_UNKNOWN; /* the value's V_* bits, once asked */
            int memo = e != NULL && e->memo != NULL;
            int u = memo && cls >= A_URL && cls < A_URL + N_URL_ATTRS ? cls - A_URL : -1;
            int l = memo && (cls == A_SRCSET || cls == A_IMAGESRCSET) ? cls - A_SRCSET : -1;
            if (e != NULL && (e->stop_attrs & (1u << cls))) {
                /* <meta>: with the charset settled, its charset and a harmless first http-equiv change
                 * nothing (a later http-equiv is ignored: the first of duplicates wins) */
                if ((flags & F_CODEC_LOCKED) && (cls == A_CHARSET || (cls == A_HTTP_EQUIV && ((e->list_seen & 8u)
                                                                     || meta_harmless(s, vs, ve, &vb)))))
                    e->list_seen |= cls == A_HTTP_EQUIV ? 8u : 0u;
                else
                    *wanted = 1;
            } else if (l >= 0) { /* srcset: the first of duplicates wins, so a repeat stops */
                if (e->list_seen & (1u << l))
                    *wanted = 1;
                else {
                    e->list_seen |= 1u << l;
                    if (vs >= 0 && ve > vs && !srcset_edit(s, vs, ve, e, &vb)) /* none, or empty: left */
                        *wanted = 1;
                }
            } else if (memo && cls == A_STYLE && (flags & F_CSS_URLS)) { /* the first of duplicates wins */
                if (e->list_seen & 4u)
                    *wanted = 1;
                else {
                    e->list_seen |= 4u;
                    if (attr_wanted(s, cls, vs, ve, flags, &vb) && !style_edit(s, vs, ve, e, &vb))
                        *wanted = 1;
                }
            } else if (u >= 0) { /* a URL attribute: the first of duplicates wins (policy), so a repeat stops */
                if (e->seen & (1u << u))
                    *wanted = 1;
                else {
                    e->seen |= 1u << u;
                    if (attr_wanted(s, cls, vs, ve, flags, &vb) && !plain_url_edit(s, vs, ve, e, &vb))
                        *wanted = 1;
                }
            } else if (memo && cls == A_DATA) {
                if (!data_first(s, as, ae, e))
                    *wanted = 1; /* a repeated data-* name (or too many): the first wins, Python decides */
                else if (attr_wanted(s, cls, vs, ve, flags, &vb) && !(plain_http(s, vs, ve, &vb) && plain_url_edit(s, vs, ve, e, &vb)))
                    *wanted = 1;
            } else if (attr_wanted(s, cls, vs, ve, flags, &vb))
                *wanted = 1;
            if (*wanted)
                return k; /* every caller stops at this tag: where it ends no longer matters */
        }
    }
}

/* The index after the comment starting with "<!" at i, or -1 when Python must look. */
static Py_ssize_t comment_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    if (i + 5 >= n || s[i + 2] != '-' || s[i + 3] != '-')
        return -1;
    Py_ssize_t j = i + 4;
    if (s[j] == '>')
        return j + 1;
    if (s[j] == '-' && s[j + 1] == '>')
        return j + 2;
    for (Py_ssize_t k = j; k + 2 < n; k++) {
        const unsigned char *dash = memchr(s + k, '-', (size_t)(n - k));
        if (dash == NULL)
            return -1;
        k = dash - s;
        if (k + 2 >= n)
            return -1;
        if (s[k + 1] == '-' && s[k + 2] == '>')
            return k + 3;
        if (s[k + 1] == '-' && s[k + 2] == '!' && k + 3 < n && s[k + 3] == '>')
            return k + 4;
    }
    return -1;
}

/* The arguments every walk starts with: buf (str), pos, flags. Returns 0, or -1 with an error set. */
static int walk_args(PyObject *const *args, Py_ssize_t *pos, long *flags, Py_ssize_t *n)
{
    if (!PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "buf must be str");
        return -1;
    }
    *pos = PyLong_AsSsize_t(args[1]);
    *flags = PyLong_AsLong(args[2]);
    if (PyErr_Occurred())
        return -1;
    *n = PyUnicode_GET_LENGTH(args[0]);
    return 0;
}

/* treebuilder._BREAKOUT, "font", and the integration points: start tags in foreign content
 * whose effect depends on more than their name (Python decides). */
static const char *const FOREIGN_STOP[] = {
    "b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed", "h1", "h2",
    "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr", "ol", "p", "pre",
    "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var", "font",
    "foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml", "mglyph", "malignmark",
    NULL};

/* Start tags skip() stops at: the rewriter reads their attributes (base), collects their contents
 * (style), or the tree builder changes more than the tokenizer state (plaintext), or they have
 * their own table row (object). <svg> and <math> are walked over with all they contain
 * (foreign_tree) when that needs nothing but a stack of element names. */
static const char *const SKIP_STOP[] = {"base", "object", "plaintext", NULL};
/* Open foreign elements foreign_tree() keeps; deeper nesting is left to the tree-builder simulator. */
#define MAX_FOREIGN_DEPTH 64

/* Move the edits of the tag just walked over to *list (made on first use). -1: a Python error. */
static int commit_edits(Edits *e, PyObject **list)
{
    if (e->n == 0)
        return 0;
    if (*list == NULL && (*list = PyList_New(0)) == NULL) {
        edits_drop(e);
        return -1;
    }
    for (int k = 0; k < e->n; k++) {
        PyObject *t = PyTuple_New(3), *a = PyLong_FromSsize_t(e->at[k][0]), *b = PyLong_FromSsize_t(e->at[k][1]);
        if (t == NULL || a == NULL || b == NULL) {
            Py_XDECREF(t);
            Py_XDECREF(a);
            Py_XDECREF(b);
            t = NULL;
            Py_DECREF(e->text[k]);
        } else {
            PyTuple_SET_ITEM(t, 0, a);
            PyTuple_SET_ITEM(t, 1, b);
            PyTuple_SET_ITEM(t, 2, e->text[k]);
        }
        e->text[k] = NULL;
        if (t == NULL || PyList_Append(*list, t) < 0) {
            for (int r = k + 1; r < e->n; r++)
                Py_DECREF(e->text[r]);
            e->n = 0;
            Py_XDECREF(t);
            return -1;
        }
        Py_DECREF(t);
    }
    e->n = 0;
    return 0;
}

/* Before the scan of the tag whose "<" is at i (name at j) in s[:n]. */
static void edits_reset(Edits *e, unsigned stop_attrs, const unsigned char *s, Py_ssize_t i, Py_ssize_t j, Py_ssize_t n)
{
    e->tag_s = s;
    e->tag_i = i;
    e->tag_j = j;
    e->tag_n = n;
    e->complete = -1;
    e->n = 0;
    e->seen = 0;
    e->ndata = 0;
    e->list_seen = 0;
    e->urls = 0;
    e->stop_attrs = stop_attrs;
    e->script_seen = 0;
}

/* The foreign subtree under the <svg> or <math> (name s[ra:rb]) whose start tag ended at ``from``,
 * as the tree-builder simulator follows it: start tags that only open another foreign element
 * (as skip_foreign() walks them, plain URLs edited from the memo as skip() edits them), comments,
 * text, and end tags, each closing the innermost open element of its name (none: ignored). Returns
 * the index after the end tag that closes the root, -1 when Python must decide (anything else, an
 * incomplete token, nesting past MAX_FOREIGN_DEPTH), -2 on a Python error. Edits go to *sub, the
 * URLs they map to *urls, start tags walked over to *tags (the caller drops them on -1). */
/* Integration points (treebuilder._SVG_HTML_POINTS under <svg>, not below an "annotation-xml";
 * _MATH_TEXT_POINTS under <math>) foreign_tree() walks over when they hold only text. */
static const char *const SVG_POINTS[] = {"title", "desc", "foreignobject", NULL};
static const char *const MATH_POINTS[] = {"mi", "mo", "mn", "ms", "mtext", NULL};

/* core._point_end: the index after the end tag named s[a:b] when the next "<" after ``from`` starts
 * it (text only in between: no token, no state change), or -1. */
static Py_ssize_t point_end(const unsigned char *s, Py_ssize_t from, Py_ssize_t n, Py_ssize_t a, Py_ssize_t b)
{
    const unsigned char *lt = from < n ? memchr(s + from, '<', (size_t)(n - from)) : NULL;
    if (lt == NULL)
        return -1;
    Py_ssize_t j = lt - s, k = j + 2;
    if (j + 2 >= n || s[j + 1] != '/' || !is_letter(s[j + 2]))
        return -1;
    while (k < n && !(CC[s[k]] & (C_WS | C_SLASH | C_GT)))
        k++;
    if (k >= n || k - (j + 2) != b - a)
        return -1;
    for (Py_ssize_t r = 0; r < b - a; r++)
        if (lower(s[j + 2 + r]) != lower(s[a + r]))
            return -1;
    int wanted = 0;
    return scan_tag(s, j, j + 2, n, 0, 0, &wanted, NULL, NULL);
}

static Py_ssize_t foreign_tree(const unsigned char *s, Py_ssize_t from, Py_ssize_t n, long flags, Py_ssize_t ra,
                               Py_ssize_t rb, Edits *e, PyObject **sub, Py_ssize_t *urls, Py_ssize_t *tags)
{
    Py_ssize_t open[MAX_FOREIGN_DEPTH][2];
    int depth = 1;
    open[0][0] = ra;
    open[0][1] = rb;
    Py_ssize_t pos = from;
    unsigned point_bit = eq_lower(s, ra, rb, "svg") ? TG_SVG_POINT : TG_MATH_POINT;
    for (;;) {
        const unsigned char *lt = pos < n ? memchr(s + pos, '<', (size_t)(n - pos)) : NULL;
        if (lt == NULL)
            return -1;
        Py_ssize_t i = lt - s;
        if (i + 1 >= n)
            return -1;
        unsigned char c = s[i + 1];
        if (is_letter(c)) {
            Py_ssize_t k = i + 2;
            while (k < n && !(is_ws(s[k]) || s[k] == '/' || s[k] == '>'))
                k++;
            if (k >= n || k - i > LONG_TAG)
                return -1;
            /* an integration point holding nothing but text, up to its own end tag (opened, then closed) */
            unsigned tf = wm_get(&TAG_MAP, s, i + 1, k, n);
            int point = (tf & point_bit) && !eq_lower(s, open[depth - 1][0], open[depth - 1][1], "annotation-xml");
            if (!point && (tf & (TG_TREE | TG_FSTOP)))
                return -1;
            int wanted = 0, self_closing = 0;
            edits_reset(e, 0, s, i, i + 1, n);
            Py_ssize_t end = scan_tag(s, i, i + 1, n, flags, 1, &wanted, e, &self_closing);
            if (e->failed) {
                edits_drop(e);
                return -2;
            }
            if (end >= 0 && !wanted && point) {
                Py_ssize_t j = self_closing ? -1 : point_end(s, end, n, i + 1, k);
                if (j < 0)
                    wanted = 1;
                else {
                    self_closing = 1; /* nothing stays open */
                    end = j;
                }
            }
            if (end < 0 || wanted) {
                edits_drop(e);
                return -1;
            }
            *urls += e->urls;
            if (commit_edits(e, sub) < 0)
                return -2;
            (*tags)++;
            if (!self_closing) {
                if (depth >= MAX_FOREIGN_DEPTH)
                    return -1;
                open[depth][0] = i + 1;
                open[depth][1] = k;
                depth++;
            }
            pos = end;
        } else if (c == '/') {
            if (i + 2 >= n || !is_letter(s[i + 2]))
                return -1;
            Py_ssize_t k = i + 3;
            while (k < n && !(is_ws(s[k]) || s[k] == '/' || s[k] == '>'))
                k++;
            int wanted = 0;
            Py_ssize_t end = scan_tag(s, i, i + 2, n, flags, 0, &wanted, NULL, NULL);
            if (end < 0)
                return -1;
            for (int d = depth - 1; d >= 0; d--) { /* TreeBuilderSimulator.end_tag */
                Py_ssize_t a = open[d][0], len = open[d][1] - a, r = 0;
                if (len != k - (i + 2))
                    continue;
                while (r < len && lower(s[a + r]) == lower(s[i + 2 + r]))
                    r++;
                if (r == len) {
                    depth = d;
                    break;
                }
            }
            if (depth == 0)
                return end;
            pos = end;
        } else if (c == '!') { /* a comment; "<![CDATA[" (allowed here) is the tokenizer's */
            Py_ssize_t end = comment_end(s, i, n);
            if (end < 0)
                return -1;
            pos = end;
        } else if (c == '?') {
            return -1;
        } else {
            pos = i + 1;
        }
    }
}
/* RCDATA and RAWTEXT elements whose text the rewriter passes through: walked over to their end tag. */
static const char *const RAW_TAGS[] = {"title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", NULL};
#define META_STOP ((1u << A_HTTP_EQUIV) | (1u << A_CHARSET))
#define IFRAME_STOP (1u << A_SRCDOC)

/* Where the text of the raw text element named name[:len] (ASCII lower case, or as written: compared
 * ASCII case-insensitively) ends: the "<" of its end tag (tokenizer.end_tag_re) at or after ``from``
 * (only at ``from`` when ``at_once``), or -1 when it is not in the buffer whole. */
static Py_ssize_t raw_end_named(const unsigned char *s, Py_ssize_t from, Py_ssize_t n, const unsigned char *name,
                                Py_ssize_t len, int at_once)
{
    for (Py_ssize_t k = from; k < n;) {
        const unsigned char *lt = memchr(s + k, '<', (size_t)(n - k));
        if (lt == NULL)
            return -1;
        Py_ssize_t j = lt - s;
        if (at_once && j != from)
            return -1;
        if (j + 2 + len >= n)
            return -1; /* the end tag may begin here: Python holds the rest */
        if (s[j + 1] == '/') {
            Py_ssize_t r = 0;
            while (r < len && lower(s[j + 2 + r]) == lower(name[r]))
                r++;
            unsigned char c = s[j + 2 + len];
            if (r == len && (is_ws(c) || c == '/' || c == '>'))
                return j;
        }
        if (at_once)
            return -1;
        k = j + 1;
    }
    return -1;
}

/* raw_end_named for the name s[a:b] in the same buffer. */
static Py_ssize_t raw_end(const unsigned char *s, Py_ssize_t from, Py_ssize_t n, Py_ssize_t a, Py_ssize_t b, int at_once)
{
    return raw_end_named(s, from, n, s + a, b - a, at_once);
}

/* policy._JS_MIME, then "module": a classic or module script */
static const char *const SCRIPT_JS[] = {
    "application/ecmascript", "application/javascript", "application/x-ecmascript", "application/x-javascript",
    "text/ecmascript", "text/javascript", "text/javascript1.0", "text/javascript1.1", "text/javascript1.2",
    "text/javascript1.3", "text/javascript1.4", "text/javascript1.5", "text/jscript", "text/livescript",
    "text/x-ecmascript", "text/x-javascript", "module", NULL};
static const char *const SCRIPT_JSON[] = {"importmap", "speculationrules", NULL};
#define SCRIPT_DATA 0  /* a data block: its text is never touched */
#define SCRIPT_CODE 1  /* classic or module: the JS rewriter's */
#define SCRIPT_RULES 2 /* an import map or speculation rules: the rewriter's (rewriter/jsonurls.py) */

/* policy.script_kind of a <script> from its first "type" and "language" values as written (e's
 * script_attr); -1 when one holds a character reference or a NUL (decoded: the rewriter reads it). */
static int script_kind_of(const unsigned char *s, const Edits *e)
{
    Py_ssize_t v[2][2]; /* each value without its quotes; [0] > [1]: absent */
    for (int w = 0; w < 2; w++) {
        v[w][0] = 1;
        v[w][1] = 0;
        if (!(e->script_seen & (1u << w)))
            continue;
        Py_ssize_t vs = e->script_attr[w][0], ve = e->script_attr[w][1];
        if (vs < 0) { /* no value: "" */
            v[w][0] = v[w][1] = 0;
            continue;
        }
        int quoted = ve > vs && (s[vs] == '"' || s[vs] == '\'');
        v[w][0] = vs + quoted;
        v[w][1] = ve - quoted;
        for (Py_ssize_t k = v[w][0]; k < v[w][1]; k++)
            if (s[k] == '&' || s[k] == 0)
                return -1;
    }
    int has_type = v[0][0] <= v[0][1], has_lang = v[1][0] <= v[1][1];
    unsigned char kind[32];
    Py_ssize_t len = 0;
    Py_ssize_t a, b;
    if ((has_type && v[0][0] == v[0][1]) || (!has_type && !(has_lang && v[1][1] > v[1][0])))
        return SCRIPT_CODE; /* "text/javascript" */
    if (!has_type) { /* "text/" + language */
        memcpy(kind, "text/", 5);
        len = 5;
        a = v[1][0];
        b = v[1][1];
    } else {
        a = v[0][0];
        b = v[0][1];
        while (a < b && is_ws(s[a])) /* str.strip of the HTML whitespace */
            a++;
    }
    while (b > a && is_ws(s[b - 1]))
        b--;
    if (b - a + len > (Py_ssize_t)sizeof(kind))
        return SCRIPT_DATA; /* longer than any name below */
    for (Py_ssize_t k = a; k < b; k++)
        kind[len++] = lower(s[k]);
    if (in_list(kind, 0, len, SCRIPT_JS))
        return SCRIPT_CODE;
    if (in_list(kind, 0, len, SCRIPT_JSON))
        return SCRIPT_RULES;
    return SCRIPT_DATA;
}

/* Is there "</script" or "<script" (after "<" and "/" when ``slash``) at k, followed by
 * whitespace, "/" or ">" (tokenizer.script_res)? */
static int script_tag_at(const unsigned char *s, Py_ssize_t k, Py_ssize_t n, int slash)
{
    Py_ssize_t a = k + 1 + slash;
    if (a + 6 >= n || s[k] != '<' || (slash && s[k + 1] != '/') || !eq_lower(s, a, a + 6, "script"))
        return 0;
    unsigned char c = s[a + 6];
    return is_ws(c) || c == '/' || c == '>';
}

/* core.script_data_end: the "<" of the "</script" that ends the script data starting at pos,
 * through the escaped states as Tokenizer._script follows them; -1 when it is not in the buffer. */
static Py_ssize_t script_data_end(const unsigned char *s, Py_ssize_t pos, Py_ssize_t n)
{
    int st = 0; /* 0: script data, 1: escaped, 2: double escaped */
    for (Py_ssize_t k = pos; k < n; k++) {
        unsigned char c = s[k];
        if (c == '-' && st != 0) {
            if (k + 2 < n && s[k + 1] == '-' && s[k + 2] == '>') { /* "-->" */
                st = 0;
                k += 2;
            }
        } else if (c == '<') {
            if (st == 0 && k + 3 < n && s[k + 1] == '!' && s[k + 2] == '-' && s[k + 3] == '-') {
                st = 1; /* stay before the dashes: "<!-->" closes at once */
                k += 1;
            } else if (script_tag_at(s, k, n, 1)) {
                if (st != 2)
                    return k;
                st = 1;
                k += 8;
            } else if (st == 1 && script_tag_at(s, k, n, 0)) {
                st = 2;
                k += 7;
            }
        } else if (st == 0) { /* on to the next "<" */
            const unsigned char *lt = memchr(s + k, '<', (size_t)(n - k));
            if (lt == NULL)
                return -1;
            k = (lt - s) - 1;
        }
    }
    return -1;
}

/* core._script_end: where the text of the <script> whose start tag ends at ``from`` ends, when the
 * rewriter would pass it through (empty, a data block, a classic or module script without the JS
 * rewriter's words, read as the rewriter reads it); -1 when the rewriter must look. */
static Py_ssize_t script_end(const unsigned char *s, Py_ssize_t from, Py_ssize_t n, long flags, const Edits *e)
{
    if (script_tag_at(s, from, n, 1))
        return from; /* no text */
    int kind = script_kind_of(s, e);
    if (kind < 0 || kind == SCRIPT_RULES)
        return -1;
    Py_ssize_t end = script_data_end(s, from, n);
    if (end < 0 || kind == SCRIPT_DATA || !(flags & F_JS))
        return end;
    if (!(flags & F_JS_WORDS) || !(flags & F_RAW_WALK) || end - from > RAW_WALK_MAX)
        return -1;
    if (!(flags & F_UTF8))
        for (Py_ssize_t k = from; k < end; k++)
            if (s[k] >= 0x80)
                return -1; /* decoded with the page's charset: the rewriter reads it */
    return has_js_word(s, from, end) ? -1 : end;
}

static PyObject *skip_walk(PyObject *const *args, Py_ssize_t nargs, HeadCache *cache);

static PyObject *skip(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    HeadCache cache;
    memset(cache.value, 0, sizeof cache.value);
    PyObject *r = skip_walk(args, nargs, &cache);
    hc_clear(&cache);
    return r;
}

static PyObject *skip_walk(PyObject *const *args, Py_ssize_t nargs, HeadCache *cache)
{
    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "skip(buf, pos, flags, memo, learn=None)");
        return NULL;
    }
    Edits e;
    e.n = 0;
    e.seen = 0;
    e.ndata = 0;
    e.list_seen = 0;
    e.urls = 0;
    e.stop_attrs = 0;
    e.complete = -1;
    e.failed = 0;
    e.script_seen = 0;
    e.cache = cache;
    e.memo = args[3] == Py_None ? NULL : args[3];
    if (e.memo != NULL && !PyDict_Check(e.memo)) {
        PyErr_SetString(PyExc_TypeError, "memo must be a dict or None");
        return NULL;
    }
    e.learn = nargs == 5 && args[4] != Py_None && e.memo != NULL ? args[4] : NULL;
    PyObject *edits = NULL;
    PyObject *buf = args[0];
    Py_ssize_t pos, n, tags = 0, urls = 0;
    long flags;
    if (walk_args(args, &pos, &flags, &n) < 0)
        return NULL;
    if (PyUnicode_KIND(buf) != PyUnicode_1BYTE_KIND || pos < 0 || pos > n)
        return Py_BuildValue("(nnOn)", pos, tags, Py_None, urls);
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(buf);
    for (;;) {
        Py_ssize_t i = find_byte(s, pos, n, '<');
        if (i < 0) {
            pos = n;
            break;
        }
        pos = i;
        if (i + 1 >= n)
            break;
        unsigned char c = s[i + 1];
        if (is_letter(c)) { /* a start tag */
            Py_ssize_t k = until_class(s, i + 2, n, C_WS | C_SLASH | C_GT);
            if (k >= n || k - i > LONG_TAG)
                break;
            unsigned tf = wm_get(&TAG_MAP, s, i + 1, k, n);
            if (tf & TG_SKIP_STOP)
                break;
            int raw = (tf & TG_RAW) != 0, script = (tf & TG_SCRIPT) != 0, style = (tf & TG_STYLE) != 0;
            int root = (tf & (TG_SVG | TG_MATH)) != 0;
            int wanted = 0, self_closing = 0;
            edits_reset(&e, tf & TG_META ? META_STOP : tf & TG_IFRAME ? IFRAME_STOP : 0, s, i, i + 1, n);
            Py_ssize_t end = scan_tag(s, i, i + 1, n, flags, 1, &wanted, &e, &self_closing);
            if (e.failed) {
                edits_drop(&e);
                Py_XDECREF(edits);
                return NULL;
            }
            if (end >= 0 && !wanted && (raw || script || style)) {
                /* its text is passed through (a <script> or <style> when it has nothing to rewrite): on to its end tag */
                Py_ssize_t j = script ? script_end(s, end, n, flags, &e) : raw_end(s, end, n, i + 1, k, 0);
                if (j >= 0 && style && (flags & F_CSS)
                    && (!(flags & F_RAW_WALK) || j - end > RAW_WALK_MAX || css_text_wanted(s, end, j)))
                    j = -1;
                if (j < 0)
                    wanted = 1;
                else
                    end = j;
            }
            if (end < 0 || wanted) {
                edits_drop(&e);
                break;
            }
            if (root && !self_closing) { /* all it contains, or Python decides from its start tag */
                Edits inner;
                inner.cache = cache;
                inner.memo = e.memo;
                inner.learn = e.learn;
                inner.failed = 0;
                inner.n = 0;
                PyObject *sub = NULL;
                Py_ssize_t sub_urls = 0, sub_tags = 0;
                Py_ssize_t j = foreign_tree(s, end, n, flags, i + 1, k, &inner, &sub, &sub_urls, &sub_tags);
                if (j == -2 || (j >= 0 && commit_edits(&e, &edits) < 0)) {
                    edits_drop(&e);
                    Py_XDECREF(sub);
                    Py_XDECREF(edits);
                    return NULL;
                }
                if (j < 0) {
                    edits_drop(&e);
                    Py_XDECREF(sub);
                    break;
                }
                if (sub != NULL) {
                    if (edits == NULL)
                        edits = sub;
                    else {
                        int bad = PyList_SetSlice(edits, PyList_GET_SIZE(edits), PyList_GET_SIZE(edits), sub) < 0;
                        Py_DECREF(sub);
                        if (bad) {
                            Py_DECREF(edits);
                            return NULL;
                        }
                    }
                }
                urls += sub_urls;
                tags += sub_tags;
                end = j;
            }
            urls += e.urls;
            if (commit_edits(&e, &edits) < 0) {
                Py_XDECREF(edits);
                return NULL;
            }
            tags++;
            pos = end;
        } else if (c == '/') { /* an end tag: nothing to do while no injection waits, outside foreign content */
            if (i + 2 >= n || !is_letter(s[i + 2]))
                break;
            int wanted = 0;
            Py_ssize_t end = scan_tag(s, i, i + 2, n, flags, 0, &wanted, NULL, NULL);
            if (end < 0)
                break;
            pos = end;
        } else if (c == '!') { /* a comment: "<!-->", "<!--->", or up to the first "-->" / "--!>" */
            Py_ssize_t end = comment_end(s, i, n);
            if (end < 0)
                break;
            pos = end;
        } else if (c == '?') {
            break;
        } else { /* "<" then anything else is text */
            pos = i + 1;
        }
    }
    if (edits == NULL)
        return Py_BuildValue("(nnOn)", pos, tags, Py_None, urls);
    return Py_BuildValue("(nnNn)", pos, tags, edits, urls);
}



/* skip_foreign(buf, pos, flags) -> (pos, start_tags, pushed)
 *
 * The walk of skip() inside foreign content (SVG, MathML) whose current element is not an HTML
 * integration point: text, comments and start tags that change nothing but the stack of open
 * elements. ``pushed`` lists, in order, the lower-cased names of the start tags walked over that
 * are not self-closing (each opens a foreign element, not an integration point). Stops at any
 * end tag, at a start tag named in FOREIGN_STOP or TREE_TAGS, and where skip() stops. */
static PyObject *skip_foreign(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "skip_foreign(buf, pos, flags)");
        return NULL;
    }
    PyObject *buf = args[0];
    Py_ssize_t pos, n, tags = 0;
    long flags;
    if (walk_args(args, &pos, &flags, &n) < 0)
        return NULL;
    PyObject *pushed = PyList_New(0);
    if (pushed == NULL)
        return NULL;
    if (PyUnicode_KIND(buf) != PyUnicode_1BYTE_KIND || pos < 0 || pos > n)
        return Py_BuildValue("(nnN)", pos, tags, pushed);
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(buf);
    unsigned char small[64];
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
        if (is_letter(c)) {
            Py_ssize_t k = i + 2;
            while (k < n && !(is_ws(s[k]) || s[k] == '/' || s[k] == '>'))
                k++;
            if (k >= n || k - i > LONG_TAG || (wm_get(&TAG_MAP, s, i + 1, k, n) & (TG_TREE | TG_FSTOP)))
                break;
            int wanted = 0, self_closing = 0;
            Py_ssize_t end = scan_tag(s, i, i + 1, n, flags, 1, &wanted, NULL, &self_closing);
            if (end < 0 || wanted)
                break;
            if (!self_closing) {
                Py_ssize_t len = k - (i + 1);
                unsigned char *low = len <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)len);
                if (low == NULL) {
                    Py_DECREF(pushed);
                    return PyErr_NoMemory();
                }
                for (Py_ssize_t r = 0; r < len; r++)
                    low[r] = lower(s[i + 1 + r]);
                PyObject *name = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, low, len);
                if (low != small)
                    PyMem_Free(low);
                if (name == NULL || PyList_Append(pushed, name) < 0) {
                    Py_XDECREF(name);
                    Py_DECREF(pushed);
                    return NULL;
                }
                Py_DECREF(name);
            }
            tags++;
            pos = end;
        } else if (c == '!') {
            Py_ssize_t end = comment_end(s, i, n);
            if (end < 0)
                break;
            pos = end;
        } else if (c == '/' || c == '?') {
            break;
        } else {
            pos = i + 1;
        }
    }
    return Py_BuildValue("(nnN)", pos, tags, pushed);
}

/* decode_refs(table, raw, want_refs) -> (value, refs)
 *
 * Character references in an attribute value, as entities.decode_refs_python reads them (the
 * WHATWG rules for attribute values): ``table`` is html.entities.html5. ``value`` has every
 * reference decoded and NUL as U+FFFD; ``refs`` (None unless ``want_refs``) lists each decoded
 * reference as (decoded start, decoded length, raw start, raw length). */
static const Py_UCS4 C1[32] = {
    0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152,
    0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122,
    0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178};
#define MAX_ENTITY 32      /* the longest name in the table, ";" included */
#define MAX_BARE_ENTITY 6  /* the longest name without ";" */

static inline int is_digit(Py_UCS4 c) { return c >= '0' && c <= '9'; }
static inline int is_hex(Py_UCS4 c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static inline int is_alnum(Py_UCS4 c) { return is_digit(c) || (c < 128 && is_letter((unsigned char)c)); }
static inline int hex_val(Py_UCS4 c) { return is_digit(c) ? (int)(c - '0') : (int)((c | 32) - 'a' + 10); }

/* entities._codepoint of the digits raw[a:b] */
static Py_UCS4 codepoint(int kind, const void *d, Py_ssize_t a, Py_ssize_t b, int base)
{
    while (a < b && PyUnicode_READ(kind, d, a) == '0')
        a++;
    if (b - a > 8)
        return 0xFFFD;
    unsigned long v = 0;
    for (; a < b; a++)
        v = v * (unsigned long)base + (unsigned long)hex_val(PyUnicode_READ(kind, d, a));
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0xFFFD;
    if (v >= 0x80 && v <= 0x9F)
        return C1[v - 0x80];
    return (Py_UCS4)v;
}

/* table[raw[a:b]] (borrowed) or NULL; *err on a Python error */
static PyObject *entity(PyObject *raw, PyObject *table, Py_ssize_t a, Py_ssize_t b, int *err)
{
    PyObject *name = PyUnicode_Substring(raw, a, b);
    if (name == NULL) {
        *err = 1;
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(table, name);
    Py_DECREF(name);
    if (v == NULL && PyErr_Occurred())
        *err = 1;
    else if (v != NULL && !PyUnicode_Check(v))
        v = NULL;
    return v;
}

/* The names most references in real values are, with what html.entities.html5 reads them as
 * (the same: a test checks): looked up without making a Python string of the name. */
static const struct { const char *name; Py_ssize_t len; Py_UCS4 c; } COMMON_REFS[] = {
    {"quot;", 5, '"'}, {"amp;", 4, '&'}, {"lt;", 3, '<'}, {"gt;", 3, '>'}, {"apos;", 5, '\''},
    {"nbsp;", 5, 0xA0}, {"copy;", 5, 0xA9}, {"reg;", 4, 0xAE},
};

/* Static text of a common name raw[a:b] (";" included), or 0. */
static Py_UCS4 common_ref(int kind, const void *d, Py_ssize_t a, Py_ssize_t b)
{
    for (size_t r = 0; r < sizeof(COMMON_REFS) / sizeof(COMMON_REFS[0]); r++) {
        if (COMMON_REFS[r].len != b - a)
            continue;
        Py_ssize_t k = 0;
        while (k < b - a && PyUnicode_READ(kind, d, a + k) == (Py_UCS4)(unsigned char)COMMON_REFS[r].name[k])
            k++;
        if (k == b - a)
            return COMMON_REFS[r].c;
    }
    return 0;
}

/* What the "&" at raw[i] reads as: *used > 0 when it is a reference of that many raw characters,
 * decoded to *one (a single character) or *text (a named reference's text, borrowed), *one and
 * *text both unset for a common name's character (in *one); *end: the end of the literal run the
 * reference pattern matched (copied as it is after the reference). -1 on a Python error. */
static int parse_ref(PyObject *raw, PyObject *table, int kind, const void *d, Py_ssize_t n, Py_ssize_t i,
                     Py_UCS4 *one, PyObject **text, Py_ssize_t *used, Py_ssize_t *end)
{
    int err = 0;
    *one = 0;
    *text = NULL;
    *used = 0;
    *end = i + 1;
    Py_UCS4 c1 = i + 1 < n ? PyUnicode_READ(kind, d, i + 1) : 0;
    if (c1 == '#') {
        Py_UCS4 c2 = i + 2 < n ? PyUnicode_READ(kind, d, i + 2) : 0;
        Py_UCS4 c3 = i + 3 < n ? PyUnicode_READ(kind, d, i + 3) : 0;
        int base = 0;
        Py_ssize_t a = 0, k = 0;
        if ((c2 == 'x' || c2 == 'X') && is_hex(c3)) {
            base = 16;
            a = i + 3;
            for (k = a; k < n && is_hex(PyUnicode_READ(kind, d, k)); k++)
                ;
        } else if (is_digit(c2)) {
            base = 10;
            a = i + 2;
            for (k = a; k < n && is_digit(PyUnicode_READ(kind, d, k)); k++)
                ;
        }
        if (base) {
            *one = codepoint(kind, d, a, k, base);
            if (k < n && PyUnicode_READ(kind, d, k) == ';')
                k++;
            *used = k - i;
            *end = k;
        }
        return 0;
    }
    if (!is_alnum(c1))
        return 0;
    Py_ssize_t k = i + 1;
    while (k < n && is_alnum(PyUnicode_READ(kind, d, k)))
        k++;
    Py_ssize_t run_end = k; /* the alphanumeric run is raw[i+1:run_end] */
    *end = k < n && PyUnicode_READ(kind, d, k) == ';' ? k + 1 : k;
    if (*end > run_end && *end - (i + 1) <= MAX_ENTITY) { /* the usual "&quot;" */
        Py_UCS4 c = common_ref(kind, d, i + 1, *end);
        if (c) {
            *one = c;
            *used = *end - i;
            return 0;
        }
        *text = entity(raw, table, i + 1, *end, &err);
        if (*text != NULL) {
            *used = *end - i;
            return 0;
        }
    }
    Py_ssize_t len = run_end - (i + 1);
    for (Py_ssize_t l = len < MAX_BARE_ENTITY ? len : MAX_BARE_ENTITY; l > 0 && !err; l--) {
        PyObject *t = entity(raw, table, i + 1, i + 1 + l, &err);
        if (t == NULL)
            continue;
        /* a legacy reference without ";" is literal when followed by "=" or an alphanumeric */
        Py_ssize_t nx = i + 1 + l;
        Py_UCS4 next = nx < n ? PyUnicode_READ(kind, d, nx) : 0;
        if (!(nx < n && (next == '=' || is_alnum(next)))) {
            *text = t;
            *used = l + 1;
        }
        break;
    }
    return err ? -1 : 0;
}

static int append_ref(PyObject *refs, Py_ssize_t ds, Py_ssize_t dl, Py_ssize_t rs, Py_ssize_t rl)
{
    PyObject *r = Py_BuildValue("(nnnn)", ds, dl, rs, rl);
    if (r == NULL || PyList_Append(refs, r) < 0) {
        Py_XDECREF(r);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* decode_refs for a 1-byte string whose decoded characters all stay below U+0100 (most values):
 * runs without "&" copied with memchr / memcpy, into a 1-byte result. *bail (and NULL) when a
 * character is past that (a NUL reads as U+FFFD): the general loop then starts over. */
static PyObject *decode_refs_ucs1(PyObject *raw, PyObject *table, PyObject *refs, int *bail)
{
    const Py_UCS1 *d = PyUnicode_1BYTE_DATA(raw);
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    if (n > 0 && memchr(d, 0, (size_t)n) != NULL) {
        *bail = 1;
        return NULL;
    }
    Py_UCS1 *out = PyMem_Malloc((size_t)(n > 0 ? n : 1)); /* decoding never lengthens */
    if (out == NULL)
        return PyErr_NoMemory();
    Py_ssize_t o = 0, i = 0;
    while (i < n) {
        const Py_UCS1 *amp = memchr(d + i, '&', (size_t)(n - i));
        Py_ssize_t j = amp == NULL ? n : amp - d;
        memcpy(out + o, d + i, (size_t)(j - i));
        o += j - i;
        i = j;
        if (i >= n)
            break;
        Py_UCS4 one;
        PyObject *text;
        Py_ssize_t used, end;
        if (parse_ref(raw, table, PyUnicode_1BYTE_KIND, d, n, i, &one, &text, &used, &end) < 0)
            goto fail;
        if (used == 0) { /* literal: the "&" and what the reference pattern matched */
            memcpy(out + o, d + i, (size_t)(end - i));
            o += end - i;
            i = end;
            continue;
        }
        Py_ssize_t ds = o;
        if (text == NULL) {
            if (one > 0xFF)
                goto bail;
            out[o++] = (Py_UCS1)one;
        } else {
            if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND)
                goto bail;
            Py_ssize_t tl = PyUnicode_GET_LENGTH(text);
            memcpy(out + o, PyUnicode_1BYTE_DATA(text), (size_t)tl);
            o += tl;
        }
        if (refs != NULL && append_ref(refs, ds, o - ds, i, used) < 0)
            goto fail;
        i += used;
        memcpy(out + o, d + i, (size_t)(end - i)); /* the rest of the match stays literal */
        o += end - i;
        i = end;
    }
    PyObject *value = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, out, o);
    PyMem_Free(out);
    return value;
bail:
    *bail = 1;
fail:
    PyMem_Free(out);
    return NULL;
}

static PyObject *decode_refs(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "decode_refs(table: dict, raw: str, want_refs)");
        return NULL;
    }
    PyObject *table = args[0], *raw = args[1];
    int want = PyObject_IsTrue(args[2]);
    if (want < 0)
        return NULL;
    PyObject *refs = want ? PyList_New(0) : NULL;
    if (want && refs == NULL)
        return NULL;
    int kind = PyUnicode_KIND(raw);
    if (kind == PyUnicode_1BYTE_KIND) {
        int bail = 0;
        PyObject *value = decode_refs_ucs1(raw, table, refs, &bail);
        if (value != NULL) {
            if (refs == NULL)
                return Py_BuildValue("(NO)", value, Py_None);
            return Py_BuildValue("(NN)", value, refs);
        }
        if (!bail) {
            Py_XDECREF(refs);
            return NULL;
        }
        if (refs != NULL && PyList_SetSlice(refs, 0, PyList_GET_SIZE(refs), NULL) < 0) {
            Py_DECREF(refs);
            return NULL;
        }
    }
    const void *d = PyUnicode_DATA(raw);
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    Py_UCS4 *out = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(Py_UCS4)); /* decoding never lengthens */
    if (out == NULL) {
        Py_XDECREF(refs);
        return PyErr_NoMemory();
    }
    Py_ssize_t o = 0, i = 0;
    int err = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        if (c != '&') {
            out[o++] = c == 0 ? 0xFFFD : c;
            i++;
            continue;
        }
        Py_UCS4 one;
        PyObject *text;
        Py_ssize_t used, end;
        if (parse_ref(raw, table, kind, d, n, i, &one, &text, &used, &end) < 0) {
            err = 1;
            break;
        }
        Py_ssize_t ds = o;
        if (used == 0) { /* literal: the "&" and what the reference pattern matched */
            for (; i < end; i++) {
                c = PyUnicode_READ(kind, d, i);
                out[o++] = c == 0 ? 0xFFFD : c;
            }
            continue;
        }
        if (text == NULL)
            out[o++] = one;
        else {
            int tk = PyUnicode_KIND(text);
            const void *td = PyUnicode_DATA(text);
            for (Py_ssize_t t = 0; t < PyUnicode_GET_LENGTH(text); t++)
                out[o++] = PyUnicode_READ(tk, td, t);
        }
        if (refs != NULL && append_ref(refs, ds, o - ds, i, used) < 0) {
            err = 1;
            break;
        }
        for (i += used; i < end; i++) { /* the rest of the match stays literal */
            c = PyUnicode_READ(kind, d, i);
            out[o++] = c == 0 ? 0xFFFD : c;
        }
    }
    PyObject *value = err ? NULL : PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, o);
    PyMem_Free(out);
    if (value == NULL) {
        Py_XDECREF(refs);
        return NULL;
    }
    if (refs == NULL)
        return Py_BuildValue("(NO)", value, Py_None);
    return Py_BuildValue("(NN)", value, refs);
}

/* The arguments (buf: str, position, third) of splice and text_end: ``third_ok`` says the caller found
 * three with a third of the right kind; args[1] must be a position in buf (0 to its length). 0, an
 * exception set (TypeError with ``usage``, or ValueError), when they are not. */
static int text_args(PyObject *const *args, int third_ok, const char *usage, const char *fn, Py_ssize_t *pos)
{
    if (!third_ok || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return 0;
    }
    *pos = PyLong_AsSsize_t(args[1]);
    if (*pos == -1 && PyErr_Occurred())
        return 0;
    if (*pos < 0 || *pos > PyUnicode_GET_LENGTH(args[0])) {
        PyErr_Format(PyExc_ValueError, "%s: position %zd outside the text", fn, *pos);
        return 0;
    }
    return 1;
}

/* splice(buf, at, edits) -> str
 *
 * buf[at:] up to the end of the last edit, each edit (start, end, text) applied: what
 * HtmlRewriter._core_edits appends to the output for the edits of one walk, in one string. The
 * edits are in order, from ``at`` on, inside ``buf``; buf and every text are 1-byte (latin-1)
 * strings. Anything else raises ValueError (the caller applies them one by one instead). */
static PyObject *splice(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t at;
    if (!text_args(args, nargs == 3 && PyList_Check(args[2]), "splice(buf: str, at: int, edits: list)", "splice", &at))
        return NULL;
    PyObject *buf = args[0], *edits = args[2];
    Py_ssize_t n = PyUnicode_GET_LENGTH(buf), count = PyList_GET_SIZE(edits), len = 0, from = at;
    if (PyUnicode_KIND(buf) != PyUnicode_1BYTE_KIND)
        goto bad;
    const unsigned char *src = PyUnicode_1BYTE_DATA(buf);
    int high = 0; /* a character past ASCII in the result (else it must be an ASCII string) */
    for (Py_ssize_t k = 0; k < count; k++) { /* check everything, and the length */
        PyObject *t = PyList_GET_ITEM(edits, k);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3 || !PyUnicode_Check(PyTuple_GET_ITEM(t, 2))
            || PyUnicode_KIND(PyTuple_GET_ITEM(t, 2)) != PyUnicode_1BYTE_KIND)
            goto bad;
        Py_ssize_t a = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 0)), b = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 1));
        if (PyErr_Occurred())
            return NULL;
        if (a < from || b < a || b > n)
            goto bad;
        if (!high && !PyUnicode_IS_ASCII(PyTuple_GET_ITEM(t, 2)))
            high = 1;
        if (!high && !PyUnicode_IS_ASCII(buf))
            for (Py_ssize_t r = from; r < a; r++)
                if (src[r] >= 0x80) {
                    high = 1;
                    break;
                }
        len += (a - from) + PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(t, 2));
        from = b;
    }
    PyObject *out = PyUnicode_New(len, high ? 255 : 127);
    if (out == NULL)
        return NULL;
    unsigned char *o = PyUnicode_1BYTE_DATA(out);
    from = at;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *t = PyList_GET_ITEM(edits, k), *text = PyTuple_GET_ITEM(t, 2);
        Py_ssize_t a = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 0)), tl = PyUnicode_GET_LENGTH(text);
        memcpy(o, src + from, (size_t)(a - from));
        o += a - from;
        memcpy(o, PyUnicode_1BYTE_DATA(text), (size_t)tl);
        o += tl;
        from = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 1));
    }
    return out;
bad:
    PyErr_SetString(PyExc_ValueError, "splice: edits out of order, or not latin-1 text");
    return NULL;
}

/* text_end(buf, pos, name) -> int
 *
 * Where the text of the raw text element or script ``name`` (ASCII, lower case) that starts at ``pos``
 * ends: the "<" of its end tag ("script": through the escaped states, core.script_data_end; other
 * names: tokenizer.end_tag_re), -1 when that is not in ``buf``, -2 when ``buf`` is not a 1-byte
 * string (the caller's regular expressions then look). Tokenizer._script and Tokenizer._raw ask it
 * before their own searches. */
static PyObject *text_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos;
    if (!text_args(args, nargs == 3 && PyUnicode_Check(args[2]) && PyUnicode_IS_ASCII(args[2]),
                   "text_end(buf: str, pos: int, name: ASCII str)", "text_end", &pos))
        return NULL;
    PyObject *buf = args[0], *name = args[2];
    Py_ssize_t n = PyUnicode_GET_LENGTH(buf), len = PyUnicode_GET_LENGTH(name);
    if (PyUnicode_KIND(buf) != PyUnicode_1BYTE_KIND)
        return PyLong_FromLong(-2);
    const unsigned char *s = PyUnicode_1BYTE_DATA(buf), *nm = PyUnicode_1BYTE_DATA(name);
    if (len == 6 && memcmp(nm, "script", 6) == 0)
        return PyLong_FromSsize_t(script_data_end(s, pos, n));
    return PyLong_FromSsize_t(raw_end_named(s, pos, n, nm, len, 0));
}

/* The text of a 1-byte str or of bytes: 0 and sets nothing when it is neither (the caller decides). */
static int text_of(PyObject *o, const unsigned char **s, Py_ssize_t *n)
{
    if (PyBytes_Check(o)) {
        *s = (const unsigned char *)PyBytes_AS_STRING(o);
        *n = PyBytes_GET_SIZE(o);
        return 1;
    }
    if (PyUnicode_Check(o) && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND) {
        *s = PyUnicode_1BYTE_DATA(o);
        *n = PyUnicode_GET_LENGTH(o);
        return 1;
    }
    return 0;
}

/* ``check`` of the whole of a 1-byte str or bytes, as a bool; None when it is neither. */
static PyObject *check_text(PyObject *arg, int (*check)(const unsigned char *, Py_ssize_t, Py_ssize_t))
{
    const unsigned char *s;
    Py_ssize_t n;
    if (!text_of(arg, &s, &n))
        Py_RETURN_NONE;
    return PyBool_FromLong(check(s, 0, n));
}

/* css_text_wanted(text) -> bool | None: core.css_text_wanted of a 1-byte str or bytes (None: neither). */
static PyObject *css_text_wanted_py(PyObject *self, PyObject *arg) { return check_text(arg, css_text_wanted); }

/* js_words(text) -> bool | None: does a 1-byte str or bytes hold one of JS_WORDS (rewriter/js.py's
 * TRIGGER_WORDS, case-sensitive)? None: neither. */
static PyObject *js_words_py(PyObject *self, PyObject *arg) { return check_text(arg, has_js_word); }

static PyMethodDef methods[] = {
    {"skip", (PyCFunction)(void (*)(void))skip, METH_FASTCALL,
     "skip(buf, pos, flags, memo, learn=None) -> (pos, start_tags, edits, urls): walk over what the "
     "rewriter leaves as it is, or changes only by remembered plain URL heads."},
    {"skip_foreign", (PyCFunction)(void (*)(void))skip_foreign, METH_FASTCALL,
     "skip_foreign(buf, pos, flags) -> (pos, start_tags, pushed): the same walk in foreign content."},
    {"decode_refs", (PyCFunction)(void (*)(void))decode_refs, METH_FASTCALL,
     "decode_refs(table, raw, want_refs) -> (value, refs): character references in an attribute value."},
    {"splice", (PyCFunction)(void (*)(void))splice, METH_FASTCALL,
     "splice(buf, at, edits) -> str: buf[at:] to the last edit's end, the edits applied."},
    {"css_text_wanted", css_text_wanted_py, METH_O,
     "css_text_wanted(text) -> bool | None: may the CSS rewriter change this <style> text (1-byte str or bytes)."},
    {"js_words", js_words_py, METH_O,
     "js_words(text) -> bool | None: does the text (1-byte str or bytes) hold one of the JS rewriter's trigger words."},
    {"text_end", (PyCFunction)(void (*)(void))text_end, METH_FASTCALL,
     "text_end(buf, pos, name) -> int: the '<' of the end tag of the raw text or script starting at pos; "
     "-1 not in buf, -2 buf not 1-byte."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rewriter.html._core",
                                    "Compiled hot loop of the HTML rewriter (see core.py).", -1, methods};

PyMODINIT_FUNC PyInit__core(void)
{
    init_classes();
    init_value_classes();
    for (int l = 0; l <= 16; l++)
        memset(LEN_MASK[l], 0xFF, (size_t)l);
    init_attr_map();
    wm_add_list(&TAG_MAP, TREE_TAGS, TG_TREE);
    wm_add_list(&TAG_MAP, FOREIGN_STOP, TG_FSTOP);
    wm_add_list(&TAG_MAP, SKIP_STOP, TG_SKIP_STOP);
    wm_add_list(&TAG_MAP, RAW_TAGS, TG_RAW);
    wm_add_list(&TAG_MAP, SVG_POINTS, TG_SVG_POINT);
    wm_add_list(&TAG_MAP, MATH_POINTS, TG_MATH_POINT);
    wm_add(&TAG_MAP, "script", TG_SCRIPT);
    wm_add(&TAG_MAP, "style", TG_STYLE);
    wm_add(&TAG_MAP, "svg", TG_SVG);
    wm_add(&TAG_MAP, "math", TG_MATH);
    wm_add(&TAG_MAP, "meta", TG_META);
    wm_add(&TAG_MAP, "iframe", TG_IFRAME);
    return PyModule_Create(&module);
}
