import { expect, test, type Browser, type Page } from "@playwright/test";
import { sudoURL } from "../playwright.config";
import {
  PASSWORD,
  dialog,
  expectNoHorizontalScroll,
  signIn,
  signUp,
  uniqueUser,
  waitForHydration,
  watchForPageErrors,
} from "./helpers";

// This server's sudo mode lasts 0 minutes: every sensitive action asks for
// the password, as it does elsewhere once 10 minutes have passed.
test.use({ baseURL: sudoURL });

const PHONE_AGENT =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";

/** Signs `username` in from a second browser (another device). */
async function secondBrowser(browser: Browser, username: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: sudoURL, userAgent: PHONE_AGENT });
  const page = await context.newPage();
  await page.goto("/signin");
  await signIn(page, username);
  await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
  return page;
}

test("see every signed-in browser and sign another one out with the password", async ({ page, browser }, testInfo) => {
  const errors = watchForPageErrors(page);
  const username = uniqueUser(testInfo, "ses");
  await signUp(page, username);
  const phone = await secondBrowser(browser, username);

  await page.getByRole("link", { name: "Sessions" }).click();
  await expect(page.getByRole("heading", { name: "Sessions", exact: true })).toBeVisible();
  await waitForHydration(page);
  const list = page.locator(".session-list li");
  await expect(list).toHaveCount(2);
  await expect(page.getByText("This session", { exact: true })).toHaveCount(1);
  await expect(list.filter({ hasText: "Safari on iOS" })).toHaveCount(1);
  await expectNoHorizontalScroll(page);

  const signOutPhone = page.getByRole("button", { name: /^Sign out Safari on iOS/ });
  await signOutPhone.click();
  const password = page.getByLabel("Confirm your password");
  await expect(page.getByText("Confirm your password to sign out other sessions.")).toBeVisible();
  await expect(password).toHaveAttribute("aria-invalid", "true");
  await password.fill("not the password at all");
  await page.getByRole("button", { name: /^Sign out Safari on iOS/ }).click();
  await expect(page.getByText("That is not your current password.")).toBeVisible();
  await page.getByLabel("Confirm your password").fill(PASSWORD);
  await page.getByRole("button", { name: /^Sign out Safari on iOS/ }).click();
  await expect(page.getByText("The session was signed out.")).toBeVisible();
  await expect(page.locator(".session-list li")).toHaveCount(1);
  await page.screenshot({ path: testInfo.outputPath(`sessions-${testInfo.project.name}.png`), fullPage: true });

  await phone.reload();
  await expect(phone).toHaveURL(/\/signin/);
  await phone.context().close();
  // the refused posts (403, 422) are answers the page shows, not errors
  expect(errors.filter((e) => !/status of 4(03|22)/.test(e))).toEqual([]);
});

test("a full-access token asks for the password in the dialog; custom scopes do not", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  await signUp(page, uniqueUser(testInfo, "sudo"));
  await waitForHydration(page);
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  await expect(d).toBeVisible();
  // Full access is the default choice, so the confirmation is offered
  await expect(d.getByLabel("Confirm your password")).toBeVisible();
  await d.getByLabel("Custom defined").check();
  await expect(d.getByLabel("Confirm your password")).toBeHidden();
  await d.getByLabel("Full access").check();
  await d.getByLabel("Name").fill("deploy");
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByText("Confirm your password to create a full-access token.")).toBeVisible();
  await expect(d.getByLabel("Name")).toHaveValue("deploy");
  await d.getByLabel("Confirm your password").fill(PASSWORD);
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  await d.getByRole("button", { name: "Done" }).click();

  await page.getByRole("link", { name: "Revoke all" }).click();
  await expect(d.getByLabel("Confirm your password")).toBeVisible();
  await d.getByRole("button", { name: "Revoke all" }).click();
  await expect(d.getByText("Confirm your password to revoke all your tokens.")).toBeVisible();
  await d.getByLabel("Confirm your password").fill(PASSWORD);
  await d.getByRole("button", { name: "Revoke all" }).click();
  await expect(page.getByText("1 token revoked.")).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath(`sudo-${testInfo.project.name}.png`), fullPage: true });
  expect(errors).toEqual([]);
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("the plain create page and the Sessions form ask for the password too", async ({ page, browser }, testInfo) => {
    const username = uniqueUser(testInfo, "nojs-sudo");
    await signUp(page, username);
    await page.goto("/profile/security/tokens/new");
    await page.getByLabel("Name").fill("plain full");
    await expect(page.getByLabel("Confirm your password")).toBeVisible();
    await page.getByLabel("Confirm your password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create" }).click();
    await expect(page.getByRole("heading", { name: "Token created" })).toBeVisible();

    const phone = await secondBrowser(browser, username);
    await page.goto("/profile/security/sessions");
    await page.getByLabel("Confirm your password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign out everywhere else" }).click();
    await expect(page.getByText("Every other session was signed out.")).toBeVisible();
    await phone.reload();
    await expect(phone).toHaveURL(/\/signin/);
    await phone.context().close();
  });
});
