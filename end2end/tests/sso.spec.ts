import { test, expect, type Page, type TestInfo } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { ssoURL, idpURL, ssoDatabase } from "../playwright.config";
import { watchForPageErrors, expectNoHorizontalScroll, PASSWORD } from "./helpers";

// Single sign-on through a real OpenID Provider (panva's oidc-provider on
// loopback): its own Tessera server, configured with --oidc-*.
test.use({ baseURL: ssoURL });

/** Runs `tessera admin ARGS` on this server's database. */
function admin(...args: string[]): string {
  return execFileSync("../target/release/tessera", ["admin", ...args], {
    env: { ...process.env, DATABASE_URL: ssoDatabase, RUST_LOG: "warn" },
    encoding: "utf8",
  });
}

/** A local account with a password (create-user reads it from stdin). */
function createUser(name: string) {
  execFileSync("../target/release/tessera", ["admin", "create-user", name], {
    env: { ...process.env, DATABASE_URL: ssoDatabase, RUST_LOG: "warn" },
    input: `${PASSWORD}\n`,
    encoding: "utf8",
  });
}

/** A person at the provider no other test uses; their IdP login. */
async function idpUser(testInfo: TestInfo, claims: Record<string, unknown> = {}): Promise<string> {
  const login = `sso-${testInfo.project.name}-${Date.now().toString(36)}-${testInfo.workerIndex}`;
  const res = await fetch(`${idpURL}/__test/users`, {
    method: "POST",
    body: JSON.stringify({ [login]: { preferred_username: login, ...claims } }),
  });
  expect(res.ok).toBeTruthy();
  return login;
}

/** From Tessera's sign-in page through the provider's login page. */
async function signInWithAcme(page: Page, login: string) {
  await page.getByRole("link", { name: "Sign in with Acme" }).click();
  await expect(page).toHaveURL(new RegExp(`^${idpURL}/interaction/`));
  await page.getByLabel("IdP username").fill(login);
  await page.getByRole("button", { name: "Continue to Tessera" }).click();
}

test("a person signs in through the identity provider and their account is made", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  const login = await idpUser(testInfo);
  await page.goto("/profile/security/tokens");
  await expect(page).toHaveURL(/\/signin\?next=/);
  await expect(page.getByRole("link", { name: "Sign in with Acme" })).toBeVisible();
  await expectNoHorizontalScroll(page);
  await signInWithAcme(page, login);
  await expect(page).toHaveURL(`${ssoURL}/profile/security/tokens`);
  await expect(page.getByLabel(`Profile menu for ${login}`)).toBeVisible();
  await expect(page.getByRole("heading", { name: "Personal access tokens", exact: true })).toBeVisible();
  const listed = JSON.parse(admin("--json", "identities", login));
  expect(listed[0].subject).toBe(login);
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("single sign-on works with plain links and forms", async ({ page }, testInfo) => {
    const login = await idpUser(testInfo);
    await page.goto("/signin");
    await signInWithAcme(page, login);
    await expect(page).toHaveURL(`${ssoURL}/profile/security/tokens`);
    await expect(page.getByRole("heading", { name: "Personal access tokens", exact: true })).toBeVisible();
  });
});

test("a callback the browser did not start is refused with a sentence", async ({ page }) => {
  await page.goto("/auth/oidc/callback?code=stolen&state=forged");
  await expect(page.getByRole("alert")).toHaveText(
    "Your sign-in took too long or was started in another browser. Try again.",
  );
  await expect(page.getByRole("link", { name: "Sign in with Acme" })).toBeVisible();
});

test("a local account with the provider's name is not taken over", async ({ page }, testInfo) => {
  const login = await idpUser(testInfo);
  // an account with that name was made here before (by an administrator)
  createUser(login);
  await page.goto("/signin");
  await signInWithAcme(page, login);
  await expect(page.getByRole("alert")).toHaveText(
    "An account with your name already exists on this Tessera. Ask an administrator to link it to your sign-in.",
  );
});

test("with sso_required the password form is the administrators' break-glass", async ({ page }, testInfo) => {
  admin("policy", "set", "sso_required", "true");
  const root = `root-${testInfo.project.name}-${Date.now().toString(36)}`.slice(0, 32);
  createUser(root);
  admin("grant-admin", root);
  await page.goto("/signin");
  await expect(page.getByRole("link", { name: "Sign in with Acme" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Create an account" })).toHaveCount(0);
  const breakGlass = page.getByText("Administrators: sign in with a password");
  await expect(breakGlass).toBeVisible();
  await expect(page.getByLabel("Username")).toBeHidden();
  await breakGlass.click();
  await page.getByLabel("Username").fill(root);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(`${ssoURL}/profile/security/tokens`);
  await expectNoHorizontalScroll(page);
});
