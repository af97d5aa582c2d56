// A real OpenID provider (node-oidc-provider) playing "the shopper's Google" in the tests.
//
// Configured from the environment by tests/support/upstream_peer.py:
//   UPSTREAM_PORT      port to listen on (127.0.0.1)
//   UPSTREAM_CLIENT    JSON: the one client, {client_id, client_secret, redirect_uris}
//   UPSTREAM_ACCOUNTS  JSON: {login: {email, email_verified, name}} (the login is the sub);
//                      any other login that is an email address is an account too
// Sign-in uses the library's development interactions (a login form that takes any password);
// consent is granted at once (loadExistingGrant), so one form stands between the shopper and
// the callback, as with an upstream the shopper has used before.
import Provider from "oidc-provider";

const port = Number(process.env.UPSTREAM_PORT);
const client = JSON.parse(process.env.UPSTREAM_CLIENT);
const accounts = JSON.parse(process.env.UPSTREAM_ACCOUNTS);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{ ...client, grant_types: ["authorization_code"], response_types: ["code"] }],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  // Claims in the ID token itself, as Google and Apple send them.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    // The login typed into the form is the account id, and so the subject.
    // Any other login that is an address is an account with that address, verified unless
    // it starts with "unverified" (the browser journeys make a fresh one per test).
    const known =
      accounts[id] ||
      (id.includes("@")
        ? { email: id, email_verified: !id.startsWith("unverified"), name: id.split("@")[0] }
        : undefined);
    if (!known) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: known.email,
          email_verified: known.email_verified,
          name: known.name,
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile");
    await grant.save();
    return grant;
  },
});

// Errors go to the log the fixture shows when a test fails.
provider.on("server_error", (ctx, error) => console.error("server_error", error));

const server = provider.listen(port, "127.0.0.1", () => {
  console.log(`upstream listening on ${issuer}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
