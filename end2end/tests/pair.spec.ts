import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { pairURL } from "../playwright.config";
import { dialog, signUp, uniqueUser, waitForHydration, watchForPageErrors } from "./helpers";

// Two Tessera instances on one Postgres database behind nginx's round-robin
// `upstream`: consecutive requests go to alternate instances, and the user
// sees one service. nginx names the instance that answered in `X-Upstream`.
test.skip(!pairURL, "needs Postgres and nginx (run.sh sets them up)");
test.use({ baseURL: pairURL });

const TOKEN_RE = /tsr_[0-9A-Za-z]{38}/;

function row(page: Page, name: string) {
  return page.locator("li.token-row").filter({ has: page.getByRole("heading", { name, exact: true }) });
}

/** `n` API calls with `secret` through nginx: the statuses and the instances that answered. */
async function calls(request: APIRequestContext, secret: string, n = 6) {
  const statuses: number[] = [];
  const instances = new Set<string>();
  for (let i = 0; i < n; i++) {
    const res = await request.get("/api/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
    statuses.push(res.status());
    instances.add(res.headers()["x-upstream"] ?? "");
  }
  return { statuses, instances };
}

test("two instances behind nginx behave as one: sign in, create, use and revoke", async ({ page, request }, testInfo) => {
  const errors = watchForPageErrors(page);
  const seen = new Set<string>();
  page.on("response", (r) => {
    const u = r.headers()["x-upstream"];
    if (u) seen.add(u);
  });
  const user = uniqueUser(testInfo, "pair");
  await signUp(page, user);
  await waitForHydration(page);

  // create in the dialog; the secret is shown once
  await page.getByRole("link", { name: "New token" }).click();
  const d = dialog(page);
  await d.getByLabel("Name").fill("ci runner");
  await d.getByRole("button", { name: "Create" }).click();
  await expect(d.getByRole("heading", { name: "Token created" })).toBeVisible();
  const secret = await d.getByLabel("Personal access token", { exact: true }).inputValue();
  expect(secret).toMatch(TOKEN_RE);
  await d.getByRole("button", { name: "Done" }).click();
  await expect(row(page, "ci runner")).toBeVisible();

  // every page load, whichever instance serves it, shows the token and the session
  for (let i = 0; i < 4; i++) {
    await page.reload();
    await expect(row(page, "ci runner")).toBeVisible();
    await expect(page.getByLabel(`Profile menu for ${user}`)).toBeVisible();
  }

  // the token works on both instances
  const before = await calls(request, secret);
  expect(before.statuses).toEqual([200, 200, 200, 200, 200, 200]);
  expect(before.instances.size).toBe(2);

  // revoke on whichever instance serves the form; both refuse it within a second
  await waitForHydration(page);
  await row(page, "ci runner").getByRole("link", { name: "Revoke ci runner" }).click();
  await dialog(page).getByRole("button", { name: "Revoke", exact: true }).click();
  await expect(dialog(page)).toHaveCount(0);
  await expect(row(page, "ci runner")).toHaveCount(0);
  const revokedAt = Date.now();
  await expect
    .poll(async () => (await calls(request, secret, 4)).statuses, { timeout: 1_000, intervals: [50] })
    .toEqual([401, 401, 401, 401]);
  expect(Date.now() - revokedAt).toBeLessThan(1_500);
  const after = await calls(request, secret);
  expect(after.statuses).toEqual([401, 401, 401, 401, 401, 401]);
  expect(after.instances.size).toBe(2);

  // the revoked token is behind the toggle on every instance
  for (let i = 0; i < 2; i++) {
    await page.goto("/profile/security/tokens?revoked=1");
    await expect(row(page, "ci runner").locator(".badge")).toHaveText("Revoked");
  }
  expect(seen.size, `the browser was served by ${[...seen].join(", ")}`).toBe(2);
  expect(errors).toEqual([]);
});
