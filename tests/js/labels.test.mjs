// LABEL codec (viewer/runtime/labels.js) against the vectors shared with
// tests/rewriter/test_labels.py, plus round-trip properties with the same generators.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";

import * as labels from "../../viewer/runtime/labels.js";

const { LabelError } = labels;
const VECTORS = JSON.parse(readFileSync(new URL("../vectors/labels.json", import.meta.url), "utf8"));
const originOf = (v) => ({ scheme: v.scheme, host: v.host, port: v.port });

test("every valid vector serialises and encodes like Python", () => {
  for (const v of VECTORS.valid) {
    assert.equal(labels.serializeOrigin(originOf(v)), v.origin);
    assert.deepEqual(labels.encode(v.sid, originOf(v)), { label: v.label, alias: v.alias }, v.origin);
    assert.ok(v.label.length <= labels.MAX_LABEL);
  }
});

test("every valid vector decodes like Python", () => {
  for (const v of VECTORS.valid) {
    const d = labels.decode(v.label);
    assert.equal(d.sid, v.sid);
    if (v.alias) {
      assert.deepEqual(d, { sid: v.sid, origin: null, alias: labels.aliasHash(originOf(v)) }, v.origin);
      assert.equal(`${v.sid}-a-${d.alias}`, v.label);
    } else {
      assert.deepEqual(d, { sid: v.sid, origin: originOf(v), alias: null }, v.origin);
    }
  }
});

test("every invalid vector throws LabelError", () => {
  for (const label of VECTORS.invalid) {
    assert.throws(() => labels.decode(label), LabelError, JSON.stringify(label));
  }
});

test("decode ignores case", () => {
  for (const v of VECTORS.decode_case_insensitive) {
    assert.equal(labels.serializeOrigin(labels.decode(v.label).origin), v.origin);
  }
});

// Obtained by running rewriter.labels.alias_hash / encode with sid abcdefgh2345.
const PYTHON_ALIASES = [
  ["https", "[::1]", 443, "dvhil7kurv46oe25"],
  ["http", "[::1]", 80, "ptvddazobpa6y2zk"],
  ["http", "[::1]", 8080, "ep2ebwccee2iyqfl"],
  ["https", "Example.COM", 443, "k65dmm6y6pysr4g2"],
  ["https", "bücher.example", 8443, "57atlkwmwsp375xe"],
  ["http", "a_b", 1, "zkwppnjsylciwcoz"],
  ["https", "x".repeat(70), 65535, "vj7x5ar2kjg2y74n"],
];

test("alias hashes agree with Python", () => {
  for (const [scheme, host, port, hash] of PYTHON_ALIASES) {
    const origin = { scheme, host, port };
    assert.equal(labels.aliasHash(origin), hash, host);
    assert.deepEqual(labels.encode("abcdefgh2345", origin), { label: `abcdefgh2345-a-${hash}`, alias: true });
  }
});

test("bad session keys and origins are refused like Python's ValueError", () => {
  const ok = { scheme: "https", host: "example.com", port: 443 };
  for (const sid of ["", "abcdefgh234", "abcdefgh23456", "ABCDEFGH2345", "abcdefgh2341"]) {
    assert.throws(() => labels.encode(sid, ok), RangeError, sid);
  }
  for (const bad of [
    { ...ok, scheme: "ftp" },
    { ...ok, scheme: "constructor" },
    { ...ok, port: 0 },
    { ...ok, port: 65536 },
    { ...ok, port: 1.5 },
    { ...ok, host: "" },
  ]) {
    assert.throws(() => labels.encode("abcdefgh2345", bad), RangeError, JSON.stringify(bad));
  }
});

test("isSid", () => {
  assert.ok(labels.isSid("abcdefgh2345"));
  assert.ok(!labels.isSid("abcdefgh2345\n"));
  assert.ok(!labels.isSid("abcdefgh234a0"));
});

// Same spirit as the Hypothesis strategies in tests/rewriter/test_labels.py.
const sids = fc.string({ unit: fc.constantFrom(...labels.SID_ALPHABET), minLength: 12, maxLength: 12 });
const ldhPart = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const anyHost = fc.oneof(
  fc.array(ldhPart, { minLength: 1, maxLength: 5 }).map((parts) => parts.join(".")),
  fc.string({ unit: fc.constantFrom(..."abcxyz019-._"), minLength: 1, maxLength: 80 }),
  fc.ipV4(),
  fc.ipV6().map((a) => new URL(`http://[${a}]/`).hostname),
);
const origins = fc
  .tuple(fc.constantFrom("http", "https"), anyHost, fc.integer({ min: 1, max: 65535 }))
  .map(([scheme, host, port]) => ({ scheme, host, port }));
const RUNS = { numRuns: 500 };

test("property: every origin round-trips through a valid DNS label", () => {
  fc.assert(
    fc.property(sids, origins, (sid, origin) => {
      const { label, alias } = labels.encode(sid, origin);
      assert.ok(label.length <= labels.MAX_LABEL);
      assert.equal(label, label.toLowerCase());
      assert.ok(!label.startsWith("xn--"));
      assert.match(label, /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/);
      const d = labels.decode(label);
      assert.equal(d.sid, sid);
      if (alias) assert.deepEqual(d, { sid, origin: null, alias: labels.aliasHash(origin) });
      else assert.deepEqual(d, { sid, origin, alias: null });
    }),
    RUNS,
  );
});

test("property: distinct origins get distinct labels", () => {
  fc.assert(
    fc.property(sids, origins, origins, (sid, a, b) => {
      const same = a.scheme === b.scheme && a.host === b.host && a.port === b.port;
      fc.pre(!same);
      assert.notEqual(labels.encode(sid, a).label, labels.encode(sid, b).label);
    }),
    RUNS,
  );
});

test("property: decode throws nothing but LabelError", () => {
  const nearLabels = fc
    .tuple(sids, origins, fc.nat(), fc.string({ unit: fc.constantFrom(..."-.aA0_x"), maxLength: 3 }))
    .map(([sid, origin, at, junk]) => {
      const { label } = labels.encode(sid, origin);
      const i = at % (label.length + 1);
      return label.slice(0, i) + junk + label.slice(i + 1);
    });
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 70, unit: "binary" }), nearLabels), (text) => {
      try {
        const d = labels.decode(text);
        // whatever decodes must be the canonical label of what it decodes to
        if (d.origin) assert.equal(labels.encode(d.sid, d.origin).label, text.toLowerCase());
      } catch (err) {
        if (!(err instanceof LabelError)) throw err;
      }
    }),
    RUNS,
  );
});
