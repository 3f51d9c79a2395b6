import { expect, test, type Page } from "@playwright/test";
import { dialog, expectNoHorizontalScroll, expectTouchTargets, scopeLevel, seedToken, signUp, uniqueUser, waitForHydration, watchForPageErrors } from "./helpers";

function row(page: Page, name: string) {
  return page.locator("li.token-row").filter({ has: page.getByRole("heading", { name, exact: true }) });
}

/** The gateway's answer for `token` asking for `scope` on `resource`. */
async function gateway(page: Page, token: string, scope: string, resource: string) {
  const res = await page.request.get(`/gateway/check?scope=${scope}&resource=${encodeURIComponent(resource)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return { status: res.status(), body: res.status() === 204 ? null : await res.json() };
}

test("set an allowlist and resource patterns in the dialog", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  await signUp(page, uniqueUser(testInfo, "lp"));
  await waitForHydration(page);
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  await expect(d.getByRole("heading", { name: "New personal access token" })).toBeVisible();
  await d.getByLabel("Name").fill("runner");
  await d.getByLabel("Custom defined").check();
  const grid = d.getByRole("group", { name: "Custom scopes" });
  // the resource choice appears once the area has a level
  await expect(grid.getByLabel("Code resources", { exact: true })).toBeHidden();
  await scopeLevel(grid, "Code").selectOption({ label: "Read & write" });
  await grid.getByLabel("Code resources", { exact: true }).selectOption({ label: "Only these:" });
  await grid.getByLabel("Code resources: patterns").fill("acme/api, acme/web-*");
  await d.getByLabel("Allowed networks").fill("10.0.0.0/8\nnot-an-address");
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.locator("#token-networks-error")).toContainText("“not-an-address” is not an IP address or CIDR range");
  await expect(grid.getByLabel("Code resources: patterns")).toHaveValue("acme/api, acme/web-*");
  await d.getByLabel("Allowed networks").fill("10.0.0.0/8");
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  await expect(d.getByText("The allowlist does not include 127.0.0.1")).toBeVisible();
  const secret = await d.getByLabel("Personal access token", { exact: true }).inputValue();
  await d.getByRole("button", { name: "Done" }).click();
  const r = row(page, "runner");
  await expect(r).toContainText("Resources: code: acme/api, acme/web-*");
  await expect(r).toContainText("Only from: 10.0.0.0/8");
  // enforced: this browser (127.0.0.1) is not in the list
  const answer = await gateway(page, secret, "code:read", "acme/api");
  expect(answer.status).toBe(403);
  expect(answer.body.error).toBe("ip_not_allowed");
  // the edit dialog shows what is set
  await r.getByRole("link", { name: "Edit runner" }).click();
  await expect(dialog(page).getByLabel("Allowed networks")).toHaveValue("10.0.0.0/8");
  await expect(dialog(page).getByRole("group", { name: "Custom scopes" }).getByLabel("Code resources: patterns")).toHaveValue("acme/api, acme/web-*");
  await expectTouchTargets(dialog(page).getByRole("group", { name: "Custom scopes" }));
  await expectNoHorizontalScroll(page);
  expect(errors).toEqual([]);
});

test("narrow a token to what it used, and derive a one-hour child", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  await signUp(page, uniqueUser(testInfo, "nw"));
  const bot = await seedToken(page, "code-bot", { scope_mode: "custom", levels: { code: "write", build: "read" } });
  // the bot only ever reads acme/api
  for (let i = 0; i < 5; i++) {
    expect((await gateway(page, bot.secret, "code:read", "acme/api")).status).toBe(204);
  }
  const r = row(page, "code-bot");
  const sentence = "Used in the last 30 days: code:read on acme/api. Never used: build:read, code:write.";
  // uses reach the page within about a second (the usage flush)
  await expect(async () => {
    await page.reload();
    await expect(r).toContainText(sentence, { timeout: 500 });
  }).toPass({ timeout: 10_000 });
  await waitForHydration(page);
  await r.getByRole("button", { name: "Narrow code-bot to what was used" }).click();
  await expect(page.getByText("Token narrowed to what it used.")).toBeVisible();
  await expect(r).toContainText("Code (read)");
  await expect(r).not.toContainText("Build");
  await expect(r).toContainText("Resources: code: acme/api");
  // the same secret now does only that
  expect((await gateway(page, bot.secret, "code:read", "acme/api")).status).toBe(204);
  expect((await gateway(page, bot.secret, "code:write", "acme/api")).body.error).toBe("insufficient_scope");
  expect((await gateway(page, bot.secret, "code:read", "acme/web")).body.error).toBe("resource_not_allowed");

  // Derive: a one-hour child, shown once, listed under its parent
  await waitForHydration(page);
  await r.getByRole("button", { name: "Derive a one-hour token from code-bot" }).click();
  await expect(page.getByText("For your security it will not be shown again.")).toBeVisible();
  const child = await page.getByLabel("Personal access token", { exact: true }).inputValue();
  expect((await gateway(page, child, "code:read", "acme/api")).status).toBe(204);
  expect((await gateway(page, child, "code:read", "acme/web")).body.error).toBe("resource_not_allowed");
  await page.goto("/profile/security/tokens");
  await expect(r.locator(".derived")).toContainText("Derived from code-bot:");
  await expect(r.locator(".derived-row")).toHaveCount(1);
  await expectNoHorizontalScroll(page);
  expect(errors).toEqual([]);
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("the plain form sets an allowlist and resources", async ({ page }, testInfo) => {
    await signUp(page, uniqueUser(testInfo, "lpn"));
    await page.getByRole("link", { name: "New token" }).click();
    await expect(page).toHaveURL(/\/tokens\/new$/);
    await page.getByLabel("Name").fill("plain runner");
    await page.getByLabel("Custom defined").check();
    const grid = page.getByRole("group", { name: "Custom scopes" });
    await scopeLevel(grid, "Code").selectOption({ label: "Read" });
    await grid.getByLabel("Code resources", { exact: true }).selectOption({ label: "Only these:" });
    await grid.getByLabel("Code resources: patterns").fill("acme/api");
    await page.getByLabel("Allowed networks").fill("192.0.2.0/24");
    await page.getByRole("button", { name: "Create" }).click();
    await expect(page.getByText("For your security it will not be shown again.")).toBeVisible();
    await expect(page.getByText("The allowlist does not include 127.0.0.1")).toBeVisible();
    await page.getByRole("link", { name: "Done" }).click();
    await expect(row(page, "plain runner")).toContainText("Only from: 192.0.2.0/24");
    await expect(row(page, "plain runner")).toContainText("Resources: code: acme/api");
  });
});
