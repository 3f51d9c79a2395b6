import { expect, test, type Page } from "@playwright/test";
import { govURL } from "../playwright.config";
import {
  dialog,
  expectNoHorizontalScroll,
  govAdmin,
  openProfileMenu,
  seedToken,
  signUp,
  uniqueUser,
  waitForHydration,
  watchForPageErrors,
} from "./helpers";

// Its own server and database: the policies set here apply to no other spec.
test.use({ baseURL: govURL });

const admin = govAdmin;

function row(page: Page, name: string) {
  return page.locator("li.token-row").filter({ has: page.getByRole("heading", { name, exact: true }) });
}

test("an administrator revokes a user's token with a reason and the user sees it", async ({ page, browser }, testInfo) => {
  const errors = watchForPageErrors(page);
  const owner = uniqueUser(testInfo, "own");
  const boss = uniqueUser(testInfo, "adm");
  await signUp(page, owner);
  await seedToken(page, "ci-deploy");

  const context = await browser.newContext({ baseURL: govURL, viewport: testInfo.project.use.viewport ?? undefined });
  const adminPage = await context.newPage();
  const adminErrors = watchForPageErrors(adminPage);
  await signUp(adminPage, boss);
  admin("grant-admin", boss);
  await adminPage.reload();
  await waitForHydration(adminPage);
  await openProfileMenu(adminPage, boss);
  await adminPage.getByRole("menuitem", { name: "Administration" }).click();
  await expect(adminPage.getByRole("heading", { name: "Tokens", exact: true })).toBeVisible();
  await adminPage.getByLabel("User").fill(owner);
  await adminPage.getByRole("button", { name: "Filter" }).click();
  await expect(adminPage).toHaveURL(new RegExp(`user=${owner}`));
  const item = adminPage.locator("li.token-row").filter({ hasText: "ci-deploy" });
  await expect(item).toHaveCount(1);
  await expectNoHorizontalScroll(adminPage);
  await adminPage.getByLabel(`Select ci-deploy of ${owner}`).check();
  await adminPage.getByLabel("Reason").fill("Leaked in a CI log");
  await adminPage.getByRole("button", { name: "Revoke selected" }).click();
  await expect(adminPage.getByText("1 token revoked.")).toBeVisible();
  await adminPage.screenshot({ path: testInfo.outputPath(`admin-tokens-${testInfo.project.name}.png`), fullPage: true });

  // the audit log answers who did it, from where
  await adminPage.getByRole("link", { name: "Audit log" }).click();
  await expect(adminPage.locator(".event-list li").filter({ hasText: "Token revoked" }).first()).toContainText(`administrator ${boss}`);

  await page.reload();
  await waitForHydration(page);
  await page.getByRole("switch", { name: "Show revoked tokens" }).click();
  await expect(row(page, "ci-deploy")).toContainText("Revoked by an administrator: Leaked in a CI log");
  await row(page, "ci-deploy").getByRole("link", { name: "History of ci-deploy" }).click();
  await expect(page.getByRole("heading", { name: "Activity" })).toBeVisible();
  await expect(page.locator(".event-list li").first()).toContainText("Token revoked");
  await expect(page.locator(".event-list li").first()).toContainText("reason: Leaked in a CI log");
  await expectNoHorizontalScroll(page);
  expect(errors).toEqual([]);
  expect(adminErrors).toEqual([]);
  await context.close();
});

test("a user sees the lifetime policy's error on the create dialog", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  admin("policy", "set", "max_lifetime_days", "30");
  await signUp(page, uniqueUser(testInfo, "pol"));
  await waitForHydration(page);
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  await expect(d).toBeVisible();
  await d.getByLabel("Name").fill("quarterly report");
  // the policy is shown where it applies, and longer presets are not offered
  await expect(d.getByRole("note", { name: "Your organization's token policies" })).toContainText("Tokens live at most 30 days.");
  await expect(d.getByLabel("Expiration", { exact: true }).locator("option[value='90']")).toHaveCount(0);
  // a date past it (typed, or from a page opened before the policy) is refused by name
  await d.getByLabel("Expiration", { exact: true }).selectOption("custom");
  const later = new Date(Date.now() + 60 * 86_400_000).toISOString().slice(0, 10);
  await d.getByLabel("Expiration date (UTC)").fill(later);
  await d.getByRole("button", { name: "Create" }).click();
  const message = d.getByText(/policy \(max_lifetime_days\) allows tokens to live at most 30 days/);
  await expect(message).toBeVisible();
  await expect(d.getByLabel("Name")).toHaveValue("quarterly report");
  await page.screenshot({ path: testInfo.outputPath(`policy-error-${testInfo.project.name}.png`) });
  await d.getByLabel("Expiration", { exact: true }).selectOption("30");
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  expect(errors).toEqual([]);
});

test("a non-administrator finds no administration pages", async ({ page }, testInfo) => {
  await signUp(page, uniqueUser(testInfo, "nob"));
  for (const path of ["/admin/tokens", "/admin/users", "/admin/policies", "/admin/audit"]) {
    const res = await page.goto(path);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  }
  await page.goto("/profile/security/tokens");
  await openProfileMenu(page, (await page.locator(".profile-name").innerText()).trim());
  await expect(page.getByRole("menuitem", { name: "Administration" })).toHaveCount(0);
});
