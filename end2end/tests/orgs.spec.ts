import { expect, test, type Page } from "@playwright/test";
import { govURL } from "../playwright.config";
import { dialog, expectNoHorizontalScroll, govAdmin, scopeLevel, signUp, uniqueUser, waitForHydration, watchForPageErrors } from "./helpers";

// Organizations are made with `tessera admin org …` on the governance
// server's own database.
test.use({ baseURL: govURL });

const admin = govAdmin;

function row(page: Page, name: string) {
  return page.locator("li.token-row").filter({ has: page.getByRole("heading", { name, exact: true }) });
}

async function gateway(page: Page, token: string, scope: string, resource: string) {
  const res = await page.request.get(`/gateway/check?scope=${scope}&resource=${encodeURIComponent(resource)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return res.status();
}

/** An organization named after `user` (lower case), with `user` as its owner. */
function orgFor(user: string): string {
  const org = `org-${user.toLowerCase().replace(/[^a-z0-9-]/g, "")}`.slice(0, 39);
  admin("org", "create", org, "--owner", user);
  return org;
}

test("a token made for an organization reaches only its resources, and stops when its maker leaves", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  const user = uniqueUser(testInfo, "org");
  await signUp(page, user);
  const org = orgFor(user);
  await page.reload();
  await waitForHydration(page);
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  await expect(d.getByRole("heading", { name: "New personal access token" })).toBeVisible();
  const owner = d.getByLabel("Resource owner");
  await expect(owner).toHaveValue("");
  await expect(owner.locator("option")).toHaveText(["You (your own resources)", org]);
  await d.getByLabel("Name").fill("org deploy");
  await owner.selectOption(org);
  await d.getByLabel("Custom defined").check();
  const grid = d.getByRole("group", { name: "Custom scopes" });
  await scopeLevel(grid, "Code").selectOption({ label: "Read" });
  // a pattern outside the organization is refused, field by field
  await grid.getByLabel("Code resources", { exact: true }).selectOption({ label: "Only these:" });
  await grid.getByLabel("Code resources: patterns").fill("other/api");
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.locator("#token-scopes-error")).toContainText(`write patterns under ${org}/`);
  await expect(d.getByLabel("Resource owner")).toHaveValue(org);
  await grid.getByLabel("Code resources", { exact: true }).selectOption({ label: "All resources" });
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  const secret = await d.getByLabel("Personal access token", { exact: true }).inputValue();
  await d.getByRole("button", { name: "Done" }).click();
  await expect(row(page, "org deploy")).toContainText(`Resource owner: ${org}`);
  await expectNoHorizontalScroll(page);

  expect(await gateway(page, secret, "code:read", `${org}/api`)).toBe(204);
  expect(await gateway(page, secret, "code:read", "other/api")).toBe(403);

  // the edit dialog shows the owner; it cannot change
  await row(page, "org deploy").getByRole("link", { name: "Edit org deploy" }).click();
  await expect(dialog(page).locator("#token-owner-fixed")).toContainText(`Resource owner: ${org}`);
  await expect(dialog(page).getByLabel("Resource owner")).toHaveCount(0);
  await page.keyboard.press("Escape");

  // removed from the organization (another owner added first): refused at once
  const other = uniqueUser(testInfo, "own2");
  admin("create-user", other);
  admin("org", "add-member", org, other, "--role", "owner");
  admin("org", "remove-member", org, user);
  await expect.poll(() => gateway(page, secret, "code:read", `${org}/api`), { timeout: 5_000 }).toBe(403);
  expect(errors).toEqual([]);
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("the plain form names an organization as the resource owner", async ({ page }, testInfo) => {
    const user = uniqueUser(testInfo, "orgn");
    await signUp(page, user);
    const org = orgFor(user);
    await page.getByRole("link", { name: "New token" }).click();
    await expect(page).toHaveURL(/\/tokens\/new$/);
    await page.getByLabel("Name").fill("plain org");
    await page.getByLabel("Resource owner").selectOption(org);
    await page.getByLabel("Custom defined").check();
    await scopeLevel(page.getByRole("group", { name: "Custom scopes" }), "Code").selectOption({ label: "Read" });
    await page.getByRole("button", { name: "Create" }).click();
    await expect(page.getByText("For your security it will not be shown again.")).toBeVisible();
    await page.getByRole("link", { name: "Done" }).click();
    await expect(row(page, "plain org")).toContainText(`Resource owner: ${org}`);
  });
});

test("an owner approves a pending request in another browser, and the token then works", async ({ page, browser }, testInfo) => {
  const errors = watchForPageErrors(page);
  const requester = uniqueUser(testInfo, "req");
  const owner = uniqueUser(testInfo, "boss");
  // the owner signs up in a browser context of their own
  const context = await browser.newContext({ baseURL: govURL, viewport: testInfo.project.use.viewport ?? undefined });
  const other = await context.newPage();
  await signUp(other, owner);
  await signUp(page, requester);
  const org = orgFor(owner);
  admin("org", "add-member", org, requester, "--role", "member");
  admin("org", "set-policy", org, "approval_required_for", "code:write");
  await page.reload();
  await waitForHydration(page);
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  await d.getByLabel("Name").fill("release bot");
  await d.getByLabel("Description").fill("pushes release tags from CI");
  await d.getByLabel("Resource owner").selectOption(org);
  await d.getByLabel("Custom defined").check();
  await scopeLevel(d.getByRole("group", { name: "Custom scopes" }), "Code").selectOption({ label: "Read & write" });
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  const secret = await d.getByLabel("Personal access token", { exact: true }).inputValue();
  await d.getByRole("button", { name: "Done" }).click();
  await expect(row(page, "release bot")).toContainText(`Waiting for an owner of ${org} to approve it`);
  expect(await gateway(page, secret, "code:write", `${org}/api`)).toBe(403);

  // the owner approves it on the Organizations page
  await other.goto("/profile/security/organizations");
  const pending = other.getByRole("region", { name: `Pending requests of ${org}` });
  await expect(pending).toContainText(requester);
  await expect(pending).toContainText("pushes release tags from CI");
  await expect(pending).toContainText("code:write");
  await expectNoHorizontalScroll(other);
  await pending.getByRole("button", { name: `Approve release bot for ${requester}` }).click();
  await expect(other.getByRole("status")).toContainText("Request approved");
  await expect(other.getByRole("region", { name: `Pending requests of ${org}` })).toContainText("No pending requests.");
  await context.close();

  expect(await gateway(page, secret, "code:write", `${org}/api`)).toBe(204);
  await page.reload();
  await expect(row(page, "release bot")).not.toContainText("Waiting for an owner");
  expect(errors).toEqual([]);
});
