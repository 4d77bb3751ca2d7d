/**
 * The LABEL codec, JS twin of rewriter/labels.py (its docstring is the spec).
 *
 *   direct:  <sid> "-" <kind> [<port>] "-" <host_enc>
 *   alias:   <sid> "-a-" <hash>
 *
 * An origin is a plain object `{scheme, host, port}` in canonical form (lower-case
 * scheme and host, IPv6 in brackets), exactly like Python's `Origin`. Both twins
 * are tested against tests/vectors/labels.json.
 */

import { sha256 } from "@noble/hashes/sha2.js";

export const SID_LEN = 12; // 60 random bits: unique enough for an id that is not a secret
export const HASH_LEN = 16; // 80 bits of SHA-256: collisions within one session are not a concern
export const MAX_LABEL = 63; // RFC 1035 label limit
export const SID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
export const DEFAULT_PORTS = Object.freeze({ http: 80, https: 443 });

const KIND_OF_SCHEME = { http: "h", https: "s" };
const SCHEME_OF_KIND = { h: "http", s: "https" };

const SID_RE = new RegExp(`^[a-z2-7]{${SID_LEN}}$`);
const LDH_PART = "[a-z0-9](?:[a-z0-9-]*[a-z0-9])?";
const LDH_HOST_RE = new RegExp(`^${LDH_PART}(?:\\.${LDH_PART})*$`);
const DIRECT_RE = new RegExp(`^([a-z2-7]{${SID_LEN}})-([hs])([1-9][0-9]{0,4})?-([a-z0-9-]+)$`);
const ALIAS_RE = new RegExp(`^([a-z2-7]{${SID_LEN}})-a-([a-z2-7]{${HASH_LEN}})$`);
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The label is not one this codec produces (Python: rewriter.labels.LabelError). */
export class LabelError extends Error {
  constructor(message) {
    super(message);
    this.name = "LabelError";
  }
}

const hasOwn = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/** Throws RangeError where Python's Origin() raises ValueError. */
function checkOrigin({ scheme, host, port }) {
  if (typeof scheme !== "string" || !hasOwn(DEFAULT_PORTS, scheme)) {
    throw new RangeError(`unsupported scheme ${JSON.stringify(scheme)}`);
  }
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new RangeError(`port out of range: ${port}`);
  }
  if (typeof host !== "string" || host === "") throw new RangeError("empty host");
}

function isDefaultPort(origin) {
  return DEFAULT_PORTS[origin.scheme] === origin.port;
}

/** `scheme://host[:port]`, the port only when it is not the scheme's default. */
export function serializeOrigin(origin) {
  checkOrigin(origin);
  const netloc = isDefaultPort(origin) ? origin.host : `${origin.host}:${origin.port}`;
  return `${origin.scheme}://${netloc}`;
}

export function isSid(value) {
  return typeof value === "string" && SID_RE.test(value);
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** RFC 4648 base32, lower case, no padding (Python: b32encode(...).lower() minus "="). */
function base32(bytes) {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/** First HASH_LEN base32 characters of SHA-256 over the serialised origin. */
export function aliasHash(origin) {
  const text = serializeOrigin(origin);
  // Python's str.encode("utf-8") refuses lone surrogates; TextEncoder would replace them.
  if (LONE_SURROGATE_RE.test(text)) throw new RangeError("origin is not valid Unicode");
  const digest = sha256(new TextEncoder().encode(text));
  return base32(digest.subarray(0, Math.ceil((HASH_LEN * 5) / 8))).slice(0, HASH_LEN);
}

function encodeHost(host) {
  return host.replace(/-/g, "--").replace(/\./g, "-");
}

function decodeHost(enc) {
  let out = "";
  for (const run of enc.split(/(-+)/)) {
    if (run[0] !== "-") out += run;
    else if (run.length === 1) out += ".";
    else if (run.length % 2 === 0) out += "-".repeat(run.length / 2);
    else throw new LabelError("ambiguous hyphen run");
  }
  return out;
}

/** The direct form of the label, or null when the origin needs an alias. */
export function directLabel(sid, origin) {
  checkOrigin(origin);
  if (!LDH_HOST_RE.test(origin.host)) return null;
  const port = isDefaultPort(origin) ? "" : String(origin.port);
  const label = `${sid}-${KIND_OF_SCHEME[origin.scheme]}${port}-${encodeHost(origin.host)}`;
  return label.length <= MAX_LABEL ? label : null;
}

/**
 * `{label, alias}`: alias is true when the label is the alias form, which must be
 * registered with the session. Throws RangeError for a bad session key or origin.
 */
export function encode(sid, origin) {
  if (!isSid(sid)) throw new RangeError(`bad session key ${JSON.stringify(sid)}`);
  const label = directLabel(sid, origin);
  if (label !== null) return { label, alias: false };
  return { label: `${sid}-a-${aliasHash(origin)}`, alias: true };
}

/**
 * Inverse of encode: `{sid, origin, alias}` with exactly one of origin (a direct
 * label) or alias (the hash to look up) not null. Throws LabelError for anything
 * encode would not produce.
 */
export function decode(label) {
  if (typeof label !== "string") throw new LabelError("not a Tandem label");
  label = label.toLowerCase();
  if (label.length > MAX_LABEL) throw new LabelError("label too long");
  let m = ALIAS_RE.exec(label);
  if (m) return { sid: m[1], origin: null, alias: m[2] };
  m = DIRECT_RE.exec(label);
  if (!m) throw new LabelError("not a Tandem label");
  const [, sid, kind, portText, enc] = m;
  const scheme = SCHEME_OF_KIND[kind];
  const port = portText ? Number(portText) : DEFAULT_PORTS[scheme];
  if (portText && (port > 65535 || port === DEFAULT_PORTS[scheme])) {
    throw new LabelError("non-canonical port");
  }
  const host = decodeHost(enc);
  if (!LDH_HOST_RE.test(host)) throw new LabelError("host is not in direct form");
  const origin = { scheme, host, port };
  if (directLabel(sid, origin) !== label) throw new LabelError("non-canonical label");
  return { sid, origin, alias: null };
}
