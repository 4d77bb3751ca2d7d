// A real OpenID provider for the SSO tests: `oidc-provider` (OpenID Certified) on loopback.
//
//   node tests/oidc/provider.mjs PORT      → prints "ready ISSUER" once it listens on 127.0.0.1:PORT
//
// What is test-only here, and nothing else is:
// * the users (USERS) and a one-field sign-in page (/interaction/UID) instead of passwords;
// * consent is granted at once (loadExistingGrant), as for a first-party client;
// * POST /__test/clients {client_id, client_secret, redirect_uris}: registers a client (the test
//   starts Tandem first, so its port — the redirect URI — is only known then);
// * POST /__test/revoke {user, after_code}: the user is switched off from now on (findAccount stops
//   finding them), or, with after_code, right after the provider next sends a code back to the client;
// * POST /__test/groups {user, groups}: the user's groups claim from now on (the admin flag follows it);
// * POST /__test/next-id-token {claims, foreign_key}: the next token response carries an ID token
//   with these claims changed, signed again with the provider's own key (or, with foreign_key, with a
//   key the provider never published) — the way to test audience, expiry, nonce and signature checks.
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importJWK, decodeJwt, decodeProtectedHeader } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;

const USERS = {
  alice: { name: 'Alice Admin', email: 'alice@example.test', groups: ['staff', 'tandem-admins'] },
  bob: { name: 'Bob Agent', email: 'bob@example.test', groups: ['staff'] },
  dave: { name: 'Dave Leaver', email: 'dave@example.test', groups: ['staff'] },
  carol: { name: 'Carol Gone', email: 'carol@example.test', groups: ['staff'], disabled: true },
};

function rsaJwk(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}
const signingJwk = rsaJwk('test-key');
const foreignJwk = rsaJwk('test-key'); // same kid, never published: a forged signature

let nextIdToken = null;
let revokeAfterCode = null;

const provider = new Provider(issuer, {
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['tandem-test-cookie-key'] },
  pkce: { required: () => true },
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600 },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const user = USERS[sub];
    if (!user || user.disabled) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, name: user.name, preferred_username: sub, email: user.email, email_verified: true, groups: user.groups };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email groups');
    await grant.save();
    return grant;
  },
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

provider.use(async (ctx, next) => {
  const path = ctx.path;
  if (path.startsWith('/interaction/')) {
    const uid = path.split('/')[2];
    if (ctx.method === 'GET') {
      await provider.interactionDetails(ctx.req, ctx.res);
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Test IdP sign-in</title><h1>Test IdP</h1>
<form method=post action="/interaction/${escapeHtml(uid)}"><label for=user>User</label>
<input id=user name=user autofocus><button type=submit>Continue</button></form>`;
      return;
    }
    const form = new URLSearchParams(await readBody(ctx.req));
    const name = form.get('user') || '';
    const user = USERS[name];
    const result = !user || user.disabled
      ? { error: 'access_denied', error_description: 'this account is switched off <b>here</b>' }
      : { login: { accountId: name } };
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
    return;
  }
  if (path.startsWith('/__test/') && ctx.method === 'POST') {
    const body = JSON.parse((await readBody(ctx.req)) || '{}');
    if (path === '/__test/clients') {
      await provider.Client.adapter.upsert(body.client_id, {
        client_id: body.client_id,
        client_secret: body.client_secret,
        redirect_uris: body.redirect_uris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      });
    } else if (path === '/__test/revoke') {
      if (body.after_code) revokeAfterCode = body.user;
      else USERS[body.user].disabled = true;
    } else if (path === '/__test/groups') {
      USERS[body.user].groups = body.groups;
    } else if (path === '/__test/next-id-token') {
      nextIdToken = body;
    } else {
      ctx.status = 404;
      return;
    }
    ctx.body = { ok: true };
    return;
  }
  await next();
  if (revokeAfterCode && ctx.status === 303 && /[?&]code=/.test(ctx.response.get('location') || '')) {
    USERS[revokeAfterCode].disabled = true;
    revokeAfterCode = null;
  }
  if (path === '/token' && nextIdToken && ctx.status === 200 && ctx.body?.id_token) {
    const change = nextIdToken;
    nextIdToken = null;
    const claims = { ...decodeJwt(ctx.body.id_token), ...change.claims };
    const header = decodeProtectedHeader(ctx.body.id_token);
    const key = await importJWK(change.foreign_key ? foreignJwk : signingJwk, 'RS256');
    ctx.body = { ...ctx.body, id_token: await new SignJWT(claims).setProtectedHeader(header).sign(key) };
  }
});

// The test process holds our stdin: when it goes (even killed), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
