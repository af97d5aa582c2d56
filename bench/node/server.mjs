// node-oidc-provider configured like identity for the client_credentials comparison of
// bench/tokens.py: one confidential client (client_secret_basic) allowed the scope
// "consent:read", RFC 8707 resource indicators with access tokens as RS256 JWTs for one resource
// server, the default in-memory adapter. Nothing else is enabled that a token request touches.
//
//   BENCH_PORT=... BENCH_CLIENT_ID=... BENCH_CLIENT_SECRET=... [BENCH_SCOPE=consent:read]
//   [BENCH_RESOURCE=https://api.example.com] node server.mjs
//
// Health: GET /.well-known/openid-configuration. Stops on SIGTERM/SIGINT.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`missing ${name}`);
    process.exit(2);
  }
  return value;
};

const port = Number(env('BENCH_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const clientId = env('BENCH_CLIENT_ID');
const clientSecret = env('BENCH_CLIENT_SECRET');
const scope = env('BENCH_SCOPE', 'consent:read');
const resource = env('BENCH_RESOURCE', 'https://api.example.com');

// An RSA 2048 signing key, as identity's (identity/oidc/keys.py generates RSA 2048 for RS256).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: randomBytes(8).toString('hex') };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope,
    },
  ],
  scopes: ['openid', scope],
  ttl: { ClientCredentials: 600 },
  jwks: { keys: [jwk] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope,
          audience: resource,
          accessTokenTTL: 600, // identity's IDENTITY_ACCESS_TOKEN_TTL default (10 minutes)
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider ${issuer} (node ${process.version}, pid ${process.pid})`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
