import { expect, test, type Page } from "@playwright/test";
import { govURL, sudoURL } from "../playwright.config";
import { PASSWORD, dialog, expectNoHorizontalScroll, govAdmin, scopeLevel, signUp, sudoAdmin, uniqueUser, waitForHydration, watchForPageErrors } from "./helpers";

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

test("an owner manages members, teams and policies on the page, and reads the organization's log", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  const owner = uniqueUser(testInfo, "own");
  const member = uniqueUser(testInfo, "mem");
  await signUp(page, owner);
  admin("create-user", member);
  const org = orgFor(owner);
  await page.goto("/profile/security/organizations");
  await waitForHydration(page);
  const members = page.getByRole("region", { name: `Members of ${org}` });
  const add = members.getByRole("form", { name: `Add a member to ${org}` });
  // someone who does not exist: the error under the field, what was typed kept
  await add.getByLabel("Username").fill("nobody-at-all");
  await add.getByRole("button", { name: "Add member" }).click();
  const again = page.getByRole("region", { name: `Members of ${org}` }).getByRole("form", { name: `Add a member to ${org}` });
  await expect(again.getByLabel("Username")).toHaveAttribute("aria-invalid", "true");
  await expect(again.getByLabel("Username")).toHaveValue("nobody-at-all");
  await expect(again.locator(".field-error")).toContainText("nobody-at-all");
  await again.getByLabel("Username").fill(member);
  await again.getByRole("button", { name: "Add member" }).click();
  await expect(page.getByRole("status")).toContainText("Member saved.");
  await page.getByRole("button", { name: `Make owner: ${member}` }).click();
  await expect(page.getByRole("status")).toContainText("Role changed.");
  await expect(page.getByRole("region", { name: `Members of ${org}` })).toContainText(`${member} (owner)`);

  // a team, and the new owner in it (which identity provider group a team
  // follows is the administrators' to say: no such field here)
  const teams = page.getByRole("region", { name: `Teams of ${org}` });
  const create = teams.getByRole("form", { name: `Create a team in ${org}` });
  await expect(create.getByLabel("Identity provider group (optional)")).toHaveCount(0);
  await create.getByLabel("Team name").fill("Platform");
  await create.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByRole("status")).toContainText("Team created.");
  const join = page.getByRole("form", { name: "Add to team Platform" });
  await join.getByLabel("Add to Platform: username").fill(member);
  await join.getByRole("button", { name: "Add to team" }).click();
  await expect(page.getByRole("region", { name: `Teams of ${org}` })).toContainText(`Platform: ${member}`);

  // a policy: only the organization's keys are offered; a bad value gets a
  // field error and keeps the choice; then 7 days (shorter than any server
  // policy another test may have set: the suite shares one server)
  const policy = () => page.getByRole("form", { name: `Set a policy of ${org}` });
  await expect(policy().getByLabel("Policy").locator("option[value='sso_required']")).toHaveCount(0);
  await policy().getByLabel("Policy").selectOption("max_lifetime_days");
  await policy().getByLabel("Value (none clears it)").fill("forever");
  await policy().getByRole("button", { name: "Set policy" }).click();
  await expect(policy().locator(".field-error")).toContainText("1 to 3650");
  await expect(policy().getByLabel("Policy")).toHaveValue("max_lifetime_days");
  await expect(policy().getByLabel("Value (none clears it)")).toHaveAttribute("aria-invalid", "true");
  await policy().getByLabel("Value (none clears it)").fill("7");
  await policy().getByRole("button", { name: "Set policy" }).click();
  await expect(page.getByRole("status")).toContainText("Policy saved.");
  await expect(page.getByRole("region", { name: `Policies of ${org}` })).toContainText("max_lifetime_days");

  // the organization's log, newest first
  const log = page.getByRole("region", { name: `Audit log of ${org}` });
  await expect(log.locator("li[data-event]").first()).toHaveAttribute("data-event", "org.policy_changed");
  await expect(log.locator('li[data-event="org.team_created"]')).toHaveCount(1);
  await expect(log.locator('li[data-event="org.member_added"]')).not.toHaveCount(0);
  await expectNoHorizontalScroll(page);

  // the dialog offers an organization's token only what its 7 days allow:
  // choosing it as the resource owner shortens the expiration and says why;
  // choosing yourself again offers the server's choices
  await page.goto("/profile/security/tokens");
  await waitForHydration(page);
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  const expiration = d.getByLabel("Expiration", { exact: true });
  await d.getByLabel("Name").fill("too long");
  await expiration.selectOption("30");
  await d.getByLabel("Resource owner").selectOption(org);
  await expect(expiration).toHaveValue("7");
  await expect(expiration.locator("option[value='30']")).toBeDisabled();
  await expect(d.locator("#token-expiry-limit")).toHaveText(`Tokens ${org} owns live at most 7 days.`);
  await expect(d.locator("#token-owner-policy")).toContainText(`${org}\u2019s policies: Tokens live at most 7 days.`);
  await expect(d.locator("#token-expiry-result")).toContainText("Expires on");
  await d.getByLabel("Resource owner").selectOption("");
  await expect(expiration.locator("option[value='30']")).toBeEnabled();
  await expect(d.locator("#token-owner-policy")).toBeHidden();
  // a date past the organization's limit is still refused by the server
  await d.getByLabel("Resource owner").selectOption(org);
  await d.getByLabel("Custom defined").check();
  await scopeLevel(d.getByRole("group", { name: "Custom scopes" }), "Code").selectOption({ label: "Read" });
  await expiration.selectOption("custom");
  const late = new Date(Date.now() + 20 * 86400000).toISOString().slice(0, 10);
  await d.getByLabel("Expiration date (UTC)").fill(late);
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.locator(".field-error").filter({ hasText: "at most 7 days" }).first()).toBeVisible();
  // the refused posts answered 422, which the browser logs; nothing else
  expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
});

test("an owner makes a service account's token, which keeps working after they leave", async ({ page, browser }, testInfo) => {
  const errors = watchForPageErrors(page);
  const owner = uniqueUser(testInfo, "sao");
  const other = uniqueUser(testInfo, "sap");
  // the second owner signs up in a browser context of their own
  const context = await browser.newContext({ baseURL: govURL, viewport: testInfo.project.use.viewport ?? undefined });
  const second = await context.newPage();
  const secondErrors = watchForPageErrors(second);
  await signUp(second, other);
  await signUp(page, owner);
  // a short name: a service account's name (its prefix included) is a
  // username, 32 characters at most
  const org = `sa-${Date.now().toString(36)}-${testInfo.workerIndex}`;
  admin("org", "create", org, "--owner", owner);
  admin("org", "add-member", org, other, "--role", "owner");
  admin("org", "create-team", org, "Release");
  const account = `${org}-bot`;
  await page.goto("/profile/security/organizations");
  await waitForHydration(page);
  const section = () => page.getByRole("region", { name: `Service accounts of ${org}` });
  const create = () => section().getByRole("form", { name: `Create a service account in ${org}` });
  await expect(section()).toContainText("No service accounts.");
  // the organization's name is put before the name typed
  await create().getByLabel("Service account name").fill("bot");
  await create().getByLabel("Team (optional)").selectOption("Release");
  await create().getByRole("button", { name: "Create service account" }).click();
  await expect(page.getByRole("status")).toContainText("Service account created.");
  // the same again: the error under the field, what was typed kept
  await create().getByLabel("Service account name").fill("bot");
  await create().getByLabel("Team (optional)").selectOption("Release");
  await create().getByRole("button", { name: "Create service account" }).click();
  await expect(create().locator(".field-error").first()).toContainText("already taken");
  await expect(create().getByLabel("Service account name")).toHaveValue("bot");
  await expect(create().getByLabel("Team (optional)")).toHaveValue("Release");
  await expect(page.getByRole("region", { name: `Members of ${org}` })).toContainText(`${account} (service account)`);
  await expect(page.getByRole("button", { name: `Make owner: ${account}` })).toHaveCount(0);

  // its token: the personal token's fields, the secret once
  await page.getByRole("link", { name: "New service account token" }).click();
  await expect(page.getByRole("heading", { name: "New service account token" })).toBeVisible();
  await waitForHydration(page);
  await expect(page.getByLabel("Service account")).toHaveValue(account);
  await page.getByLabel("Name").fill("release publisher");
  await page.getByLabel("Custom defined").check();
  await scopeLevel(page.getByRole("group", { name: "Custom scopes" }), "Packaging").selectOption({ label: "Read & write" });
  await expectNoHorizontalScroll(page);
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: "Token created" })).toBeVisible();
  await expect(page.getByText(`of the service account ${account} is ready`)).toBeVisible();
  const secret = await page.getByLabel("Personal access token", { exact: true }).inputValue();
  expect(await gateway(page, secret, "packaging:write", `${org}/site`)).toBe(204);
  expect(await gateway(page, secret, "packaging:write", "elsewhere/site")).toBe(403);
  await page.getByRole("link", { name: "Done" }).click();
  const listed = page.getByRole("region", { name: `Service accounts of ${org}` }).locator(`li[data-account="${account}"]`);
  await expect(listed).toContainText("(team Release)");
  await expect(listed.locator('li[data-token="release publisher"]')).toContainText(`made by ${owner}`);
  await expectNoHorizontalScroll(page);

  // the maker leaves the organization: the account's token still works
  admin("org", "remove-member", org, owner);
  expect(await gateway(page, secret, "packaging:write", `${org}/site`)).toBe(204);

  // another owner revokes it
  await second.goto("/profile/security/organizations");
  await second.getByRole("button", { name: `Revoke release publisher of ${account}` }).click();
  await expect(second.getByRole("status")).toContainText("Token revoked.");
  expect(await gateway(page, secret, "packaging:write", `${org}/site`)).toBe(401);
  expect(secondErrors).toEqual([]);
  await context.close();
  expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
});

test.describe("when the password is not recent", () => {
  // this server's sudo mode lasts 0 minutes: every such change asks
  test.use({ baseURL: sudoURL });

  test("an owner confirms access before making a member an owner", async ({ page }, testInfo) => {
    const errors = watchForPageErrors(page);
    const owner = uniqueUser(testInfo, "cao");
    const member = uniqueUser(testInfo, "cam");
    await signUp(page, owner);
    sudoAdmin("create-user", member);
    const org = `ca-${Date.now().toString(36)}-${testInfo.workerIndex}`;
    sudoAdmin("org", "create", org, "--owner", owner);
    sudoAdmin("org", "add-member", org, member);
    await page.goto("/profile/security/organizations");
    await waitForHydration(page);
    await page.getByRole("button", { name: `Make owner: ${member}` }).click();
    // the change waits on a page of its own, which says what it is
    await expect(page.getByRole("heading", { name: "Confirm access" })).toBeVisible();
    await expect(page.locator(".lead")).toContainText(`make ${member} an owner of ${org}`);
    const confirm = page.getByRole("form", { name: "Confirm access" });
    await confirm.getByLabel("Confirm your password").fill("not my password");
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await expect(confirm.locator(".field-error").filter({ hasText: "That is not your current password." })).toBeVisible();
    await expect(confirm.getByLabel("Confirm your password")).toHaveAttribute("aria-invalid", "true");
    await expectNoHorizontalScroll(page);
    await confirm.getByLabel("Confirm your password").fill(PASSWORD);
    await confirm.getByRole("button", { name: "Confirm" }).click();
    await expect(page.getByRole("status")).toContainText("Role changed.");
    await expect(page.getByRole("region", { name: `Members of ${org}` })).toContainText(`${member} (owner)`);
    // Cancel goes back with nothing changed
    await page.getByRole("button", { name: `Remove ${member} from ${org}` }).click();
    await expect(page.locator(".lead")).toContainText(`remove ${member} from ${org}`);
    await page.getByRole("link", { name: "Cancel" }).click();
    await expect(page.getByRole("region", { name: `Members of ${org}` })).toContainText(`${member} (owner)`);
    // the refused password answered 403, which the browser logs; nothing else
    expect(errors.filter((e) => !e.includes("status of 403"))).toEqual([]);
  });
});
