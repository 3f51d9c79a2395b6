// The OpenID Provider the single sign-on tests sign in through: panva's
// oidc-provider (an OpenID Certified implementation), on a loopback port.
//
//   node scripts/idp/provider.mjs '{"port": 4100, "clients": [{"client_id": "tessera",
//     "client_secret": "…", "redirect_uris": ["http://127.0.0.1:3000/auth/oidc/callback"]}],
//     "users": {"alice": {"preferred_username": "alice", "email": "alice@example.com",
//     "groups": ["staff"]}}, "kid": "key-1"}'
//
// Each start signs with a fresh RSA key named `kid` (a restart with another
// kid is a key rotation). The login page (`/interaction/UID`) asks for a
// username only: a user of `users` signs in, and consent is granted at once.
// `POST /__test/users` with a JSON object adds or replaces users while it
// runs. Prints "ready" when it listens; exits on SIGTERM, and with
// `"exit_with_stdin": true` when stdin closes (the test process ended).
import Provider from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

const config = JSON.parse(process.argv[2] ?? "{}");
const port = Number(config.port ?? 4100);
const issuer = config.issuer ?? `http://127.0.0.1:${port}`;
const users = { ...(config.users ?? {}) };

const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: config.kid ?? `key-${Date.now()}`, use: "sig", alg: "RS256" };

const provider = new Provider(issuer, {
  clients: config.clients ?? [],
  jwks: { keys: [jwk] },
  cookies: { keys: ["tessera-test-idp-cookie-key"] },
  // the claims a scope asks for go in the ID token (as Entra and Keycloak do)
  conformIdTokenClaims: false,
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email", "email_verified"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AuthorizationCode: 60, IdToken: 3600, AccessToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  async findAccount(_ctx, sub) {
    const user = users[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email_verified: true, ...user };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = "html";
    ctx.body = `<!doctype html><title>IdP error</title><h1>${escape(out.error)}</h1><p>${escape(out.error_description ?? "")}</p>`;
  },
});
provider.proxy = true;

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Test IdP sign-in</title></head><body><main><h1>Test IdP</h1>
${error ? `<p role="alert">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${uid}/login">
<label for="login">IdP username</label> <input id="login" name="login" autocomplete="username" autofocus>
<button type="submit">Continue to Tessera</button></form></main></body></html>`;
}

provider.use(async (ctx, next) => {
  const path = ctx.path;
  if (path === "/favicon.ico") {
    ctx.status = 204;
    return;
  }
  if (path === "/__test/users" && ctx.method === "POST") {
    Object.assign(users, JSON.parse(await body(ctx.req)));
    ctx.body = { users: Object.keys(users) };
    return;
  }
  const m = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== m[1]) {
    ctx.status = 400;
    ctx.body = "interaction mismatch";
    return;
  }
  if (details.prompt.name === "login" && !m[2]) {
    ctx.type = "html";
    ctx.body = loginPage(details.uid);
    return;
  }
  let accountId = details.session?.accountId;
  if (m[2] && ctx.method === "POST") {
    const login = new URLSearchParams(await body(ctx.req)).get("login") ?? "";
    if (!users[login]) {
      ctx.type = "html";
      ctx.status = 400;
      ctx.body = loginPage(details.uid, `No user named ${login}.`);
      return;
    }
    accountId = login;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope ?? "openid"));
  const grantId = await grant.save();
  const result = { login: { accountId }, consent: { grantId } };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
});

const server = provider.listen(port, "127.0.0.1", () => {
  console.log("ready");
});
if (config.exit_with_stdin) {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}
process.on("SIGTERM", () => server.close(() => process.exit(0)));
