import { expect, test, type APIRequestContext } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { baseURL } from "../playwright.config";
import { expectNoHorizontalScroll, signUp, uniqueUser, waitForHydration, watchForPageErrors } from "./helpers";

// The Rust tests' real OIDC issuer (PyJWT + cryptography, Debian's
// python3-jwt): discovery, JWKS, and GitHub-Actions-shaped ID tokens.
let issuer: ChildProcess | undefined;
let issuerBase = "";

test.beforeAll(async () => {
  const port = 3200 + (process.pid % 700);
  issuer = spawn("/usr/bin/python3", ["../server/tests/it/workload_support/issuer.py", String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: issuer.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once("line", (l) => (l.trim() === "ready" ? resolve() : reject(new Error(l))));
    issuer!.once("exit", (code) => reject(new Error(`issuer exited with ${code}`)));
  });
  issuerBase = `http://127.0.0.1:${port}`;
});

test.afterAll(() => issuer?.kill());

/** An ID token for a push to main of acme/api, as GitHub Actions mints it. */
async function githubToken(request: APIRequestContext, iss: string): Promise<string> {
  const res = await request.post(`${iss}/mint`, {
    data: {
      claims: {
        sub: "repo:acme/api:ref:refs/heads/main",
        aud: baseURL,
        repository: "acme/api",
        repository_owner: "acme",
        ref: "refs/heads/main",
        workflow: "deploy",
        run_id: "7",
      },
    },
  });
  expect(res.ok()).toBeTruthy();
  return res.text();
}

test("a user trusts a workload; its minted token is listed under the rule and revoked with it", async ({ page, request }, testInfo) => {
  const errors = watchForPageErrors(page);
  const user = uniqueUser(testInfo, "wl");
  const iss = `${issuerBase}/${user}`;
  await signUp(page, user);
  await page.goto("/profile/security/workloads");
  await waitForHydration(page);
  await expect(page.getByRole("heading", { name: "Trusted workloads", level: 1 })).toBeVisible();
  await expect(page.getByRole("link", { name: "Trusted workloads" })).toHaveAttribute("aria-current", "page");
  await expect(page.getByText("No trusted workloads yet")).toBeVisible();

  // a rule that would trust every workload of the issuer is a field error
  await page.getByLabel("Issuer").fill(iss);
  await page.getByLabel("Claim conditions").fill("sub=*");
  await page.getByLabel("Scopes").fill("profile:read");
  await page.getByRole("button", { name: "Add trusted workload" }).click();
  await expect(page.locator("#field-conditions-error")).toContainText("must name something");
  await expect(page.getByLabel("Issuer")).toHaveValue(iss);

  await page.getByLabel("Claim conditions").fill("repository=acme/api\nref=refs/heads/main");
  await page.getByLabel("Scopes").fill("profile:read code:read");
  await page.getByLabel("Resources").fill("code=acme/*");
  await page.getByRole("button", { name: "Add trusted workload" }).click();
  await expect(page.getByRole("status")).toContainText("Trusted workload added");
  const rule = page.locator(".rule").filter({ hasText: iss });
  await expect(rule).toContainText("ref=refs/heads/main, repository=acme/api");
  await expect(rule).toContainText("code: acme/*");
  const title = await rule.locator(".rule-title").innerText();
  const ruleId = /Rule (\d+)/.exec(title)![1];

  // the job's side: exchange the ID token (RFC 8693), use the token
  const exchanged = await request.post("/oauth/token", {
    form: {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      subject_token: await githubToken(request, iss),
    },
  });
  expect(exchanged.status()).toBe(200);
  const body = await exchanged.json();
  expect(body.token_type).toBe("Bearer");
  expect(body.expires_in).toBeLessThanOrEqual(15 * 60);
  const me = await request.get("/api/v1/me", { headers: { Authorization: `Bearer ${body.access_token}` } });
  expect(me.status()).toBe(200);

  // it shows up under its rule
  await page.reload();
  await waitForHydration(page);
  const minted = page.getByRole("list", { name: `Tokens minted by rule ${ruleId}` });
  await expect(minted).toContainText(`workload ${ruleId}`);
  await expect(minted).toContainText("repo:acme/api:ref:refs/heads/main");
  await expectNoHorizontalScroll(page);

  // the Tokens page says where it came from and offers only History and Revoke
  await page.goto("/profile/security/tokens");
  await waitForHydration(page);
  const row = page.locator(".token-row").filter({ hasText: `Minted by trust rule ${ruleId}` });
  await expect(row).toHaveCount(1);
  await expect(row.getByRole("link", { name: /^Edit / })).toHaveCount(0);
  await expect(row.getByRole("link", { name: /^Regenerate / })).toHaveCount(0);
  await expect(row.getByRole("button", { name: /^Derive / })).toHaveCount(0);
  await expect(row.getByRole("link", { name: /^Revoke / })).toHaveCount(1);
  await expectNoHorizontalScroll(page);
  await page.goto("/profile/security/workloads");
  await waitForHydration(page);

  // removing the rule revokes it
  await page.getByRole("button", { name: `Remove trust rule ${ruleId} (${iss})` }).click();
  await expect(page.getByRole("status")).toContainText("Trusted workload removed");
  await expect(page.getByText("No trusted workloads yet")).toBeVisible();
  const after = await request.get("/api/v1/me", { headers: { Authorization: `Bearer ${body.access_token}` } });
  expect(after.status()).toBe(401);
  // the refused form answered 422 (the page again, with the field error)
  expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
});
