import { defineConfig } from "@playwright/test";
import { mkdirSync, writeFileSync } from "node:fs";

// The server under test: the release binary on a fresh SQLite file (run.sh
// makes the directory), on a port of its own.
const port = Number(process.env.E2E_PORT ?? 3100);
const dataDir = process.env.E2E_DATA_DIR ?? "/tmp/tessera-e2e";
export const baseURL = `http://127.0.0.1:${port}`;
// A second server whose sudo mode lasts 0 minutes, so every sensitive
// action asks for the password (sessions.spec.ts).
const sudoPort = port + 1;
export const sudoURL = `http://127.0.0.1:${sudoPort}`;
export const sudoDatabase = `sqlite://${dataDir}/e2e-sudo.db`;
// A third server for governance.spec.ts: its policies are changed with
// `tessera admin` on its own database, which no other spec uses.
const govPort = port + 2;
export const govURL = `http://127.0.0.1:${govPort}`;
export const govDatabase = `sqlite://${dataDir}/e2e-gov.db`;
// Two instances on one Postgres database behind a real nginx `upstream`
// (pair.spec.ts), when run.sh found a Postgres and made the database.
const pairDatabase = process.env.E2E_PG_URL;
const pairPorts = [port + 3, port + 4];
const pairFront = port + 5;
export const pairURL = pairDatabase ? `http://127.0.0.1:${pairFront}` : undefined;
// Single sign-on (sso.spec.ts): a server whose identity provider is panva's
// oidc-provider (scripts/idp), started first on a port of its own.
const ssoPort = port + 6;
const idpPort = port + 7;
export const ssoURL = `http://127.0.0.1:${ssoPort}`;
export const idpURL = `http://127.0.0.1:${idpPort}`;
export const ssoDatabase = `sqlite://${dataDir}/e2e-sso.db`;
// Passkeys (two_factor.spec.ts): WebAuthn needs a domain name, so this
// server is reached as localhost (an IP address cannot be a relying party).
const passkeyPort = port + 8;
export const passkeyURL = `http://localhost:${passkeyPort}`;
export const passkeyDatabase = `sqlite://${dataDir}/e2e-passkey.db`;

const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-gpu",
  ],
};

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]],
  outputDir: "test-results",
  use: {
    baseURL,
    browserName: "chromium",
    launchOptions: chromium,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
  projects: [
    { name: "desktop", use: { viewport: { width: 1280, height: 800 } } },
    {
      name: "phone",
      use: { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
    },
  ],
  webServer: [
    // webhooks to the specs' receivers on loopback (notifications.spec.ts)
    // and trust rules for the specs' OIDC issuer on loopback (workloads.spec.ts)
    server(port, "e2e", { TESSERA_WEBHOOK_ALLOW_PRIVATE: "true", TESSERA_WORKLOAD_ALLOW_INSECURE_ISSUERS: "true" }),
    server(sudoPort, "e2e-sudo", { TESSERA_SUDO_MINUTES: "0" }),
    server(govPort, "e2e-gov", {}),
    ...(pairDatabase ? pair(pairDatabase) : []),
    server(passkeyPort, "e2e-passkey", { TESSERA_PUBLIC_URL: passkeyURL }),
    // servers start in this order: the provider before the server that
    // reads its discovery document at start-up
    idp(),
    server(ssoPort, "e2e-sso", {
      TESSERA_PUBLIC_URL: ssoURL,
      TESSERA_OIDC_ISSUER: idpURL,
      TESSERA_OIDC_CLIENT_ID: "tessera-e2e",
      TESSERA_OIDC_CLIENT_SECRET: "tessera-e2e-client-secret-0123456789",
      TESSERA_OIDC_LABEL: "Sign in with Acme",
      TESSERA_OIDC_ADMIN_GROUP: "tessera-admins",
    }),
  ],
});

/** Two instances on `database` and nginx in front, alternating between them. */
function pair(database: string) {
  const dir = `${dataDir}/nginx`;
  mkdirSync(dir, { recursive: true });
  const upstreams = pairPorts.map((p) => `server 127.0.0.1:${p};`).join(" ");
  writeFileSync(
    `${dir}/nginx.conf`,
    `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # round robin: consecutive requests go to alternate instances
  upstream tessera { ${upstreams} }
  server {
    listen 127.0.0.1:${pairFront};
    location / {
      proxy_pass http://tessera;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      # which instance answered (the story checks both did)
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`,
  );
  const env = {
    TESSERA_PUBLIC_URL: `http://127.0.0.1:${pairFront}`,
    TESSERA_TRUSTED_PROXIES: "127.0.0.1",
  };
  const user = process.getuid?.() === 0 ? " user root;" : "";
  return [
    ...pairPorts.map((p, i) => server(p, `pair-${i}`, env, database)),
    {
      command: `nginx -p ${dir} -c ${dir}/nginx.conf -g 'daemon off;${user}'`,
      url: `http://127.0.0.1:${pairFront}/readyz`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "pipe" as const,
      stderr: "pipe" as const,
    },
  ];
}

/** The OpenID Provider of sso.spec.ts (users are added by the spec). */
function idp() {
  const config = {
    port: idpPort,
    clients: [
      {
        client_id: "tessera-e2e",
        client_secret: "tessera-e2e-client-secret-0123456789",
        redirect_uris: [`${ssoURL}/auth/oidc/callback`],
        grant_types: ["authorization_code"],
        response_types: ["code"],
      },
    ],
  };
  return {
    command: `node ../scripts/idp/provider.mjs '${JSON.stringify(config)}'`,
    url: `${idpURL}/.well-known/openid-configuration`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: "pipe" as const,
    stderr: "pipe" as const,
  };
}

/** The release binary on its own port and SQLite file. */
function server(on: number, db: string, extra: Record<string, string>, database?: string) {
  return {
    command: "../target/release/tessera",
    url: `http://127.0.0.1:${on}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe" as const,
    stderr: "pipe" as const,
    env: {
      TESSERA_ADDR: `127.0.0.1:${on}`,
      DATABASE_URL: database ?? `sqlite://${dataDir}/${db}.db`,
      TESSERA_SITE_ROOT: "../target/site",
      // many test users sign in from one address
      TESSERA_LOGIN_MAX_FAILURES_PER_IP: "1000",
      TESSERA_SIGNUP_MAX_PER_IP: "1000",
      RUST_LOG: "warn",
      ...extra,
    },
  };
}
