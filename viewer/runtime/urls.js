/**
 * URL mapping between upstream and proxied URLs, JS twin of rewriter/urls.py.
 *
 * A proxied page lives at `LABEL.BASE` (e.g. `abcdefgh2345-h8081-shop-localhost.
 * tandem.localhost:8080`): the first label of `location.host` names the session and
 * the upstream origin, the rest (port included) is the base domain. Only the
 * scheme and authority of an absolute or protocol-relative URL change; relative
 * URLs, other schemes (data:, blob:, ...) and URLs already on the base domain are
 * returned as they are. Hosts are canonicalised by the browser's own URL parser.
 */

import { DEFAULT_PORTS, decode, encode, LabelError } from "./labels.js";

/** Schemes whose URLs go through the proxy, and the origin scheme each belongs to. */
export const ORIGIN_SCHEME = Object.freeze({ http: "http", https: "https", ws: "http", wss: "https" });

const SCHEME_RE = /^([a-zA-Z][a-zA-Z0-9+\-.]*):/;
const LEADING_RE = /^[\x00-\x20]*/;
const TAB_NL_RE = /[\t\n\r]/g;
const AUTH_END_RE = /[/\\?#]/;
const SLASHES_RE = /^[/\\]*/;
const PROTOCOL_RELATIVE = ["//", "\\\\", "/\\", "\\/"];

/** A special URL the browser would reject (bad host or port). */
export class UrlError extends Error {
  constructor(message) {
    super(message);
    this.name = "UrlError";
  }
}

function canonicalHost(raw) {
  if (raw === "") throw new UrlError("empty host");
  try {
    return new URL(`http://${raw}/`).hostname;
  } catch {
    throw new UrlError(`invalid host ${JSON.stringify(raw)}`);
  }
}

/**
 * Cut an absolute (or protocol-relative) special URL into spans of the raw string:
 * `{lead, scheme, userinfo, origin, rest}`, or null when it is not one (relative,
 * other scheme). `pageScheme` decides what `//host` and `https:foo` mean. Throws
 * UrlError for a bad host or port. Same rules as `split_url` in urls.py.
 */
export function splitUrl(value, pageScheme = "https") {
  const lead = LEADING_RE.exec(value)[0];
  const body = value.slice(lead.length).replace(TAB_NL_RE, "");
  let scheme;
  let after;
  const m = SCHEME_RE.exec(body);
  if (m) {
    scheme = m[1].toLowerCase();
    if (!Object.prototype.hasOwnProperty.call(ORIGIN_SCHEME, scheme)) return null;
    after = body.slice(m[0].length);
    const slashes = SLASHES_RE.exec(after)[0].length;
    if (slashes === 0 && scheme === pageScheme) return null; // "https:foo" on an https page is relative
    after = after.slice(slashes);
  } else if (PROTOCOL_RELATIVE.includes(body.slice(0, 2))) {
    scheme = Object.prototype.hasOwnProperty.call(ORIGIN_SCHEME, pageScheme) ? pageScheme : "https";
    after = body.slice(2);
  } else {
    return null;
  }
  const end = after.search(AUTH_END_RE);
  const authority = end >= 0 ? after.slice(0, end) : after;
  const rest = end >= 0 ? after.slice(end) : "";
  const at = authority.lastIndexOf("@");
  const userinfo = authority.slice(0, at + 1);
  const hostport = authority.slice(at + 1);
  let hostRaw;
  let portRaw;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    hostRaw = hostport.slice(0, close + 1);
    portRaw = hostport.slice(close + 1);
  } else {
    const colon = hostport.indexOf(":");
    hostRaw = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portRaw = colon >= 0 ? hostport.slice(colon) : "";
  }
  const originScheme = ORIGIN_SCHEME[scheme];
  let port;
  if (portRaw === "" || portRaw === ":") {
    port = DEFAULT_PORTS[originScheme];
  } else if (/^:[0-9]+$/.test(portRaw)) {
    port = Number(portRaw.slice(1));
    if (port > 65535) throw new UrlError("port out of range");
    if (port === 0) throw new UrlError("port 0");
  } else {
    throw new UrlError("invalid port");
  }
  const host = canonicalHost(hostRaw);
  return { lead, scheme, userinfo, origin: { scheme: originScheme, host, port }, rest };
}

function stripBrackets(host) {
  return host.replace(/^\[+|\]+$/g, "");
}

function netloc({ scheme, host, port }) {
  return DEFAULT_PORTS[scheme] === port ? host : `${host}:${port}`;
}

/**
 * Maps URLs of one proxied page. `scheme` is the proxied page's scheme (http or
 * https), `baseDomain` is where Tandem is reached (`tandem.localhost:8080`),
 * `upstreamOrigin` is the page's upstream origin or null when its label is an
 * alias. `onAlias(hash, origin)` is called when a URL needed an alias label.
 * `encodeLabel(sid, origin) -> {label, alias}` makes labels: the browser runtime
 * passes one that asks the server for alias labels, so it needs no SHA-256 of its
 * own; `UrlMapper` below uses the local codec.
 */
export class UrlMapperCore {
  constructor({ scheme, sid, baseDomain, upstreamOrigin = null, alias = null, onAlias = null, encodeLabel }) {
    this.encodeLabel = encodeLabel;
    this.scheme = scheme;
    this.sid = sid;
    this.baseDomain = baseDomain.toLowerCase();
    this.upstreamOrigin = upstreamOrigin;
    this.alias = alias;
    this.onAlias = onAlias;
    const colon = this.baseDomain.lastIndexOf(":");
    this.baseHostname = colon >= 0 ? this.baseDomain.slice(0, colon) : this.baseDomain;
  }

  /** The mapper for a proxied page's `location` (anything with protocol and host). */
  static fromLocation(loc, options = {}) {
    const host = loc.host.toLowerCase();
    const dot = host.indexOf(".");
    if (dot <= 0) throw new LabelError("not a proxied host");
    const { sid, origin, alias } = decode(host.slice(0, dot));
    return new this({
      ...options,
      scheme: loc.protocol.replace(/:$/, "").toLowerCase(),
      sid,
      baseDomain: host.slice(dot + 1),
      upstreamOrigin: origin,
      alias,
    });
  }

  /** True for the base domain and every host under it (the port does not matter). */
  isOurs(host) {
    host = stripBrackets(host).toLowerCase().replace(/\.+$/, "");
    return host === this.baseHostname || host.endsWith(`.${this.baseHostname}`);
  }

  /** `scheme://LABEL.BASE` for an upstream origin, ws/wss for a WebSocket. */
  proxyOrigin(origin, websocket = false) {
    const { label, alias } = this.encodeLabel(this.sid, origin);
    if (alias && this.onAlias) this.onAlias(label.slice(label.lastIndexOf("-") + 1), origin);
    let scheme = this.scheme;
    if (websocket) scheme = scheme === "https" ? "wss" : "ws";
    return { scheme, authority: `${label}.${this.baseDomain}` };
  }

  /** The proxied form of a raw URL value; the value itself when nothing changes. */
  toProxy(value) {
    value = `${value}`;
    let parts;
    try {
      parts = splitUrl(value, this.upstreamOrigin ? this.upstreamOrigin.scheme : this.scheme);
    } catch (err) {
      if (err instanceof UrlError) return value;
      throw err;
    }
    if (parts === null || this.isOurs(parts.origin.host)) return value;
    const websocket = parts.scheme === "ws" || parts.scheme === "wss";
    const { scheme, authority } = this.proxyOrigin(parts.origin, websocket);
    return `${parts.lead}${scheme}://${parts.userinfo}${authority}${parts.rest}`;
  }
}

/** The mapper with the local LABEL codec (aliases hashed here). */
export class UrlMapper extends UrlMapperCore {
  constructor(options) {
    super({ encodeLabel: encode, ...options });
  }

  /**
   * (Not in the runtime bundle: the runtime maps back with env.upstream.)
   * The upstream form of a proxied URL. URLs that are not on the base domain
   * (relative ones, other schemes and hosts) come back as they are; null when the
   * URL is ours but can't be reversed here: alias labels (the table is on the
   * server), another session's labels, the control plane, a label that is not one.
   */
  toUpstream(value) {
    value = `${value}`;
    let parts;
    try {
      parts = splitUrl(value, this.scheme);
    } catch (err) {
      if (err instanceof UrlError) return value;
      throw err;
    }
    if (parts === null || !this.isOurs(parts.origin.host)) return value;
    const hostname = parts.origin.host.toLowerCase().replace(/\.+$/, "");
    const label = hostname.slice(0, -(this.baseHostname.length + 1));
    if (hostname === this.baseHostname || label === "" || label.includes(".")) return null;
    let decoded;
    try {
      decoded = decode(label);
    } catch (err) {
      if (err instanceof LabelError) return null;
      throw err;
    }
    if (decoded.origin === null || decoded.sid !== this.sid) return null;
    const origin = decoded.origin;
    let scheme = origin.scheme;
    if (parts.scheme === "ws" || parts.scheme === "wss") scheme = scheme === "https" ? "wss" : "ws";
    return `${parts.lead}${scheme}://${parts.userinfo}${netloc(origin)}${parts.rest}`;
  }
}
