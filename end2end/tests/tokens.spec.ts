import { expect, test, type Page } from "@playwright/test";
import {
  dialog,
  expectNoHorizontalScroll,
  expectTouchTargets,
  scopeLevel,
  seedToken,
  signUp,
  tabTo,
  uniqueUser,
  waitForHydration,
  watchForPageErrors,
} from "./helpers";

const TOKEN_RE = /tsr_[0-9A-Za-z]{38}/;

test.use({ permissions: ["clipboard-read", "clipboard-write"] });

async function openNewDialog(page: Page) {
  await page.getByRole("link", { name: "New token" }).click();
  await expect(dialog(page)).toBeVisible();
  await expect(dialog(page).getByRole("heading", { name: "New personal access token" })).toBeVisible();
}

async function createInDialog(page: Page, name: string, opts: { custom?: Record<string, string>; expiry?: string } = {}) {
  await openNewDialog(page);
  const d = dialog(page);
  await d.getByLabel("Name").fill(name);
  if (opts.expiry) await d.getByLabel("Expiration", { exact: true }).selectOption(opts.expiry);
  if (opts.custom) {
    await d.getByLabel("Custom defined").check();
    for (const [area, level] of Object.entries(opts.custom)) {
      await scopeLevel(d.getByRole("group", { name: "Custom scopes" }), area).selectOption({ label: level });
    }
  }
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  const secret = await d.getByLabel("Personal access token", { exact: true }).inputValue();
  expect(secret).toMatch(TOKEN_RE);
  return secret;
}

function row(page: Page, name: string) {
  return page.locator("li.token-row").filter({ has: page.getByRole("heading", { name, exact: true }) });
}

test.beforeEach(async ({ page, javaScriptEnabled }, testInfo) => {
  await signUp(page, uniqueUser(testInfo, "tok"));
  if (javaScriptEnabled) await waitForHydration(page);
});

test("create a full-access token, copy it, and never see it again", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  await expect(page.getByText("No personal access tokens yet")).toBeVisible();
  const secret = await createInDialog(page, "laptop git");
  const d = dialog(page);
  await expect(d.getByText("For your security it will not be shown again.")).toBeVisible();
  await d.getByRole("button", { name: "Copy" }).click();
  await expect(d.getByText("Copied", { exact: true })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await page.screenshot({ path: testInfo.outputPath(`secret-${testInfo.project.name}.png`) });
  await d.getByRole("button", { name: "Done" }).click();
  await expect(dialog(page)).toHaveCount(0);
  await expect(page.getByRole("status").getByText("Token “laptop git” created.")).toBeVisible();
  await expect(row(page, "laptop git")).toContainText("Full access");
  await expect(row(page, "laptop git")).toContainText("Never");
  expect(await page.content()).not.toContain(secret);

  await page.reload();
  await waitForHydration(page);
  await expect(row(page, "laptop git")).toBeVisible();
  expect(await page.content()).not.toContain(secret);
  const html = await (await page.request.get("/profile/security/tokens")).text();
  expect(html).toContain("laptop git");
  expect(html).not.toContain(secret);
  expect(html).not.toMatch(TOKEN_RE);
  expect(errors).toEqual([]);
});

test("create a custom-scoped token with a custom date", async ({ page }) => {
  await openNewDialog(page);
  const d = dialog(page);
  await d.getByLabel("Name").fill("ci deploy");
  await d.getByLabel("Description").fill("used by the nightly job");
  await d.getByLabel("Expiration", { exact: true }).selectOption("custom");
  const date = new Date(Date.now() + 20 * 86400_000).toISOString().slice(0, 10);
  await d.getByLabel("Expiration date (UTC)").fill(date);
  await expect(d.getByText(/Expires on .* at 23:59 UTC/)).toBeVisible();
  // custom with no scope chosen is refused, and nothing typed is lost
  await d.getByLabel("Custom defined").check();
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByText("Choose at least one scope, or Full access.")).toBeVisible();
  await expect(d.getByLabel("Name")).toHaveValue("ci deploy");
  await scopeLevel(d.getByRole("group", { name: "Custom scopes" }), "Code").selectOption({ label: "Read & write" });
  await scopeLevel(d.getByRole("group", { name: "Custom scopes" }), "Build").selectOption({ label: "Read" });
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  await d.getByRole("button", { name: "Done" }).click();
  const r = row(page, "ci deploy");
  await expect(r).toContainText("Code (read & write)");
  await expect(r).toContainText("Build (read)");
  await expect(r).toContainText("used by the nightly job");
});

test("a duplicate name gets a field-level message", async ({ page }) => {
  await seedToken(page, "dup");
  await page.reload();
  await waitForHydration(page);
  await openNewDialog(page);
  await dialog(page).getByLabel("Name").fill("dup");
  await dialog(page).getByRole("button", { name: "Create" }).click();
  await expect(dialog(page).getByText(/You already have a token named “dup”/)).toBeVisible();
  await expect(dialog(page).getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
});

test("edit each field of a token", async ({ page }) => {
  await seedToken(page, "to edit");
  await page.reload();
  await waitForHydration(page);
  await row(page, "to edit").getByRole("link", { name: "Edit to edit" }).click();
  const d = dialog(page);
  await expect(d.getByRole("heading", { name: "Edit “to edit”" })).toBeVisible();
  await d.getByLabel("Name").fill("edited");
  await d.getByLabel("Description").fill("new description");
  await d.getByLabel("Expiration", { exact: true }).selectOption("7");
  await d.getByLabel("Custom defined").check();
  await scopeLevel(d.getByRole("group", { name: "Custom scopes" }), "Wiki").selectOption({ label: "Read" });
  await d.getByRole("button", { name: "Save" }).click();
  await expect(dialog(page)).toHaveCount(0);
  const r = row(page, "edited");
  await expect(r).toContainText("new description");
  await expect(r).toContainText("Wiki (read)");
  await expect(r).toContainText(/Expires in [67] days/);
  await expect(r.locator(".badge")).toHaveText("Active");
});

test("revoke through the modal; the toggle shows the revoked token without edit", async ({ page }, testInfo) => {
  await seedToken(page, "doomed");
  await seedToken(page, "keeper");
  await page.reload();
  await waitForHydration(page);
  const opener = row(page, "doomed").getByRole("link", { name: "Revoke doomed" });
  await opener.click();
  const d = dialog(page);
  await expect(d).toContainText("“doomed”");
  await expect(d).toContainText("This action cannot be undone.");
  await page.keyboard.press("Escape");
  await expect(dialog(page)).toHaveCount(0);
  await expect(opener).toBeFocused();
  await opener.click();
  await dialog(page).getByRole("button", { name: "Cancel" }).click();
  await expect(dialog(page)).toHaveCount(0);
  await opener.click();
  await dialog(page).getByRole("button", { name: "Revoke", exact: true }).click();
  await expect(dialog(page)).toHaveCount(0);
  await expect(row(page, "doomed")).toHaveCount(0);
  await expect(row(page, "keeper")).toBeVisible();

  await page.getByRole("switch", { name: "Show revoked tokens" }).click();
  await expect(page).toHaveURL(/revoked=1/);
  await expect(page.getByRole("switch", { name: "Show revoked tokens" })).toHaveAttribute("aria-checked", "true");
  const revoked = row(page, "doomed");
  await expect(revoked.locator(".badge")).toHaveText("Revoked");
  await expect(revoked.getByText("Revoked", { exact: true }).first()).toBeVisible();
  await expect(revoked.getByRole("link", { name: /Edit/ })).toHaveCount(0);
  await expect(revoked.getByRole("link", { name: /Revoke/ })).toHaveCount(0);
  await page.reload();
  await expect(row(page, "doomed")).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath(`tokens-${testInfo.project.name}.png`), fullPage: true });
});

test("regenerate shows a new secret once", async ({ page }) => {
  const old = await seedToken(page, "rotating");
  await page.reload();
  await waitForHydration(page);
  await row(page, "rotating").getByRole("link", { name: "Regenerate rotating" }).click();
  await dialog(page).getByRole("button", { name: "Regenerate" }).click();
  await expect(dialog(page).getByRole("heading", { name: "Token regenerated" })).toBeVisible();
  const fresh = await dialog(page).getByLabel("Personal access token", { exact: true }).inputValue();
  expect(fresh).toMatch(TOKEN_RE);
  expect(fresh).not.toBe(old.secret);
  await dialog(page).getByRole("button", { name: "Done" }).click();
  expect(await page.content()).not.toContain(fresh);
});

test("regenerate with a grace period keeps the old secret working for a while", async ({ page }, testInfo) => {
  const old = await seedToken(page, "swapping");
  await page.reload();
  await waitForHydration(page);
  await row(page, "swapping").getByRole("link", { name: "Regenerate swapping" }).click();
  await dialog(page).getByLabel("The old secret keeps working").selectOption({ label: "For 24 hours" });
  await dialog(page).getByRole("button", { name: "Regenerate" }).click();
  await expect(dialog(page).getByRole("heading", { name: "Token regenerated" })).toBeVisible();
  await expect(dialog(page).getByText(/The old one keeps working until/)).toBeVisible();
  const fresh = await dialog(page).getByLabel("Personal access token", { exact: true }).inputValue();
  expect(fresh).not.toBe(old.secret);
  await page.screenshot({ path: testInfo.outputPath(`rotate-${testInfo.project.name}.png`) });
  await dialog(page).getByRole("button", { name: "Done" }).click();
  await expect(row(page, "swapping")).toContainText(/Old secret stops working in (24|23) h/);
  for (const secret of [old.secret, fresh]) {
    const res = await page.request.get("/api/v1/me", { headers: { authorization: `Bearer ${secret}` } });
    expect(res.status()).toBe(200);
  }
});

test("revoke all, with its own confirmation, offered only when there is something to revoke", async ({ page }) => {
  await expect(page.getByText("No personal access tokens yet")).toBeVisible();
  await expect(page.getByRole("link", { name: "Revoke all" })).toHaveCount(0);
  await seedToken(page, "one");
  await seedToken(page, "two");
  await page.reload();
  await waitForHydration(page);
  await page.getByRole("link", { name: "Revoke all" }).click();
  await expect(dialog(page)).toContainText("2 active");
  await dialog(page).getByRole("button", { name: "Revoke all" }).click();
  await expect(page.getByText("No personal access tokens yet")).toBeVisible();
  await expect(page.getByRole("link", { name: "Revoke all" })).toHaveCount(0);
  await page.getByRole("switch", { name: "Show revoked tokens" }).click();
  await expect(page.locator("li.token-row[data-status=revoked]")).toHaveCount(2);
  await expect(page.getByRole("link", { name: "Revoke all" })).toHaveCount(0);
});

test("the resources hint shows only while Custom defined is chosen", async ({ page }) => {
  await openNewDialog(page);
  const d = dialog(page);
  const hint = d.getByText("Resources: patterns such as acme/api");
  await expect(d.getByLabel("Full access")).toBeChecked();
  await expect(hint).toBeHidden();
  await d.getByLabel("Custom defined").check();
  await expect(hint).toBeVisible();
  await d.getByLabel("Full access").check();
  await expect(hint).toBeHidden();
});

test("keyboard only: create and revoke, with focus kept inside the dialog", async ({ page }) => {
  await tabTo(page, page.getByRole("link", { name: "New token" }));
  await page.keyboard.press("Enter");
  const d = dialog(page);
  await expect(d.getByLabel("Name")).toBeFocused();
  await page.keyboard.type("keyboard token");
  // Tab cycles inside the dialog
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => !!document.activeElement?.closest("dialog[open]"))).toBeTruthy();
  }
  await tabTo(page, d.getByRole("button", { name: "Create" }));
  await page.keyboard.press("Enter");
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  await tabTo(page, d.getByRole("button", { name: "Done" }));
  await page.keyboard.press("Enter");
  await expect(dialog(page)).toHaveCount(0);
  const revoke = row(page, "keyboard token").getByRole("link", { name: "Revoke keyboard token" });
  await tabTo(page, revoke);
  await page.keyboard.press("Enter");
  await tabTo(page, dialog(page).getByRole("button", { name: "Revoke", exact: true }));
  await page.keyboard.press("Enter");
  await expect(row(page, "keyboard token")).toHaveCount(0);
});

test("a click with Ctrl or Cmd opens the plain page in a new tab, not the dialog", async ({ page, context }, testInfo) => {
  test.skip(testInfo.project.name !== "desktop", "no modifier keys on a phone");
  await seedToken(page, "tabbed");
  await page.reload();
  await waitForHydration(page);
  const [tab] = await Promise.all([
    context.waitForEvent("page"),
    row(page, "tabbed").getByRole("link", { name: "Edit tabbed" }).click({ modifiers: ["ControlOrMeta"] }),
  ]);
  await tab.waitForLoadState();
  await expect(tab).toHaveURL(/\/profile\/security\/tokens\/\d+\/edit$/);
  await expect(tab.getByRole("heading", { name: "Edit “tabbed”" })).toBeVisible();
  await expect(dialog(page)).toHaveCount(0);
  await tab.close();
});

test("a row gone stale (revoked elsewhere) says so instead of opening its dialog", async ({ page }) => {
  const t = await seedToken(page, "stale");
  await page.reload();
  await waitForHydration(page);
  // revoked behind the page's back (another tab, the API)
  const res = await page.request.post("/rpc/tokens/revoke", { data: { id: t.token.id } });
  expect(res.ok()).toBeTruthy();
  await row(page, "stale").getByRole("link", { name: "Edit stale" }).click();
  await expect(page.getByRole("status").getByText("“stale” is revoked: only active tokens can be changed.")).toBeVisible();
  await expect(dialog(page)).toHaveCount(0);
  // the list itself is right after the next change, and the plain page agrees
  await page.goto(`/profile/security/tokens/${t.token.id}/edit`);
  await expect(page.getByRole("heading", { name: "“stale” cannot be edited" })).toBeVisible();
});

test("a page of 1,000 tokens stays responsive", async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => seedToken(page, `bulk ${String(i + j).padStart(4, "0")}`)));
  }
  const started = Date.now();
  await page.goto("/profile/security/tokens?sort=name");
  await waitForHydration(page);
  const loadMs = Date.now() - started;
  await expect(page.getByText("1000 tokens")).toBeVisible();
  await expect(page.locator("li.token-row")).toHaveCount(50);
  await expect(page.getByText("Page 1 of 20")).toBeVisible();
  const t0 = Date.now();
  await page.getByRole("link", { name: "New token" }).click();
  await expect(dialog(page)).toBeVisible();
  const dialogMs = Date.now() - t0;
  await page.keyboard.press("Escape");
  await page.getByRole("link", { name: "Next" }).click();
  await expect(page.getByText("Page 2 of 20")).toBeVisible();
  await expect(row(page, "bulk 0050")).toBeVisible();
  await page.getByLabel("Search tokens by name").fill("bulk 0999");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.locator("li.token-row")).toHaveCount(1);
  testInfo.annotations.push({ type: "timing", description: `load+hydrate ${loadMs} ms, open dialog ${dialogMs} ms` });
  expect(loadMs).toBeLessThan(10_000);
  expect(dialogMs).toBeLessThan(2_000);
});

test("phone and desktop layouts: no sideways scrolling, large touch targets", async ({ page }, testInfo) => {
  await seedToken(page, "a token with a rather long name to wrap on small screens", { description: "x".repeat(200) });
  await page.reload();
  await waitForHydration(page);
  await expectNoHorizontalScroll(page);
  if (testInfo.project.name === "phone") await expectTouchTargets(page.locator("main"));
  await openNewDialog(page);
  await dialog(page).getByLabel("Custom defined").check();
  await expectNoHorizontalScroll(page);
  await page.screenshot({ path: testInfo.outputPath(`new-dialog-${testInfo.project.name}.png`), fullPage: true });
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("create and revoke as plain forms", async ({ page }) => {
    await page.getByRole("link", { name: "New token" }).click();
    await expect(page).toHaveURL(/\/tokens\/new$/);
    await page.getByLabel("Name").fill("plain form");
    await page.getByLabel("Custom defined").check();
    await scopeLevel(page.getByRole("group", { name: "Custom scopes" }), "Code").selectOption({ label: "Read" });
    await page.getByRole("button", { name: "Create" }).click();
    const secret = await page.getByLabel("Personal access token", { exact: true }).inputValue();
    expect(secret).toMatch(TOKEN_RE);
    await expect(page.getByText("For your security it will not be shown again.")).toBeVisible();
    await page.getByRole("link", { name: "Done" }).click();
    await expect(row(page, "plain form")).toContainText("Code (read)");
    expect(await page.content()).not.toContain(secret);

    await row(page, "plain form").getByRole("link", { name: "Revoke plain form" }).click();
    await expect(page.getByText("This action cannot be undone.")).toBeVisible();
    await page.getByRole("button", { name: "Revoke" }).click();
    await expect(page.getByText("Token revoked.")).toBeVisible();
    await expect(row(page, "plain form")).toHaveCount(0);
    await page.getByRole("switch", { name: "Show revoked tokens" }).click();
    await expect(row(page, "plain form").locator(".badge")).toHaveText("Revoked");
  });
});
