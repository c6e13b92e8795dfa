// A real OpenID Connect provider for the test suite: panva's oidc-provider (npm), on
// loopback, with a login page of its own and a file of accounts the tests write.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"clients": [{client_id, client_secret, redirect_uris}], "accounts_file": PATH}
// ACCOUNTS (re-read on every request, so a test can change them between steps):
//   {"login": {"password": "…", "disabled": false, "claims": {"email": …, "email_verified": …,
//    "name": …, "preferred_username": …, "groups": […]}}}
// A disabled account is refused by the provider: at its login form (the interaction ends
// with access_denied) and when a signed-in session is checked again (prompt=none answers
// login_required, since the account is no longer found).
//
// Prints one JSON line, {"issuer": "http://127.0.0.1:PORT"}, once it listens.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const SCOPES = ['openid', 'email', 'profile', 'groups'];

function accounts() {
  return JSON.parse(fs.readFileSync(config.accounts_file, 'utf8'));
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res, status, title, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Test Identity Provider</title>
<style>body{font:15px system-ui,sans-serif;background:#eef2f7;margin:0}
main{max-width:360px;margin:3rem auto;background:#fff;padding:1.2rem 1.4rem;border-radius:10px}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}input{width:100%;padding:.45rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem;background:#1f4fa3;color:#fff;border:0;border-radius:6px}
.error{color:#b3261e}</style></head>
<body><main><p>Test Identity Provider</p><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`);
}

function loginForm(res, uid, { error = '', login = '' } = {}) {
  page(res, error ? 401 : 200, 'Sign in', `
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label for="login">Login</label>
  <input id="login" name="login" value="${escapeHtml(login)}" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button type="submit" id="sign-in">Sign in</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

function activeAccount(login) {
  const account = accounts()[login];
  return account && !account.disabled ? account : undefined;
}

// A provider session whose account was disabled since must sign in again: with prompt=none
// that is the login_required answer.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'account_disabled',
  'the account is disabled',
  'login_required',
  (ctx) => (ctx.oidc.session.accountId && !activeAccount(ctx.oidc.session.accountId)
    ? interactionPolicy.Check.REQUEST_PROMPT
    : interactionPolicy.Check.NO_NEED_TO_PROMPT),
));

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Every client must use PKCE (S256), confidential ones included.
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // The studio is a first-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPES.join(' '));
    await grant.save();
    return grant;
  },
  async findAccount(ctx, sub) {
    const account = activeAccount(sub);
    if (!account) return undefined;
    return { accountId: sub, async claims() { return { sub, ...account.claims }; } };
  },
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));
const handleProvider = provider.callback();

async function handleInteraction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET' && !action) {
    if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
    loginForm(res, uid);
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    const account = accounts()[login];
    if (!account || account.password !== form.get('password')) {
      loginForm(res, uid, { error: 'Wrong login or password.', login });
      return;
    }
    if (account.disabled) {
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'This account is disabled at the identity provider.',
      }, { mergeWithLastSubmission: false });
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  res.writeHead(405);
  res.end();
}

server.on('request', (req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(\w+))?$/.exec(req.url.split('?')[0]);
  if (!match) {
    handleProvider(req, res);
    return;
  }
  handleInteraction(req, res, match[1], match[2]).catch((error) => {
    page(res, 400, 'Sign-in failed', `<p class="error">${escapeHtml(error.message)}</p>`);
  });
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
