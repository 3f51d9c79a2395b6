import { expect, test } from "@playwright/test";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { PASSWORD, expectNoHorizontalScroll, seedToken, signUp, uniqueUser, waitForHydration, watchForPageErrors } from "./helpers";

// A real HTTP receiver for the webhook: it answers 500 to the first
// delivery and 204 afterwards, and keeps what it got.
function receiver() {
  const calls: { id: string; body: any; status: number }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const status = calls.length === 0 ? 500 : 204;
      calls.push({ id: String(req.headers["webhook-id"] ?? ""), body: JSON.parse(body || "null"), status });
      res.statusCode = status;
      res.end();
    });
  });
  return new Promise<{ url: string; calls: typeof calls; close: () => void }>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({ url: `http://127.0.0.1:${port}/hook`, calls, close: () => server.close() });
    }),
  );
}

test("the tokens page warns about a token that expires within a week", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  await signUp(page, uniqueUser(testInfo, "exp"));
  const soon = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
  await seedToken(page, "ci-deploy", { expiry: "custom", expiry_date: soon });
  await seedToken(page, "long-lived", { expiry: "90" });
  await page.reload();
  await waitForHydration(page);
  const banner = page.locator(".expiring-banner");
  await expect(banner).toBeVisible();
  await expect(banner).toContainText("1 token expires within a week.");
  await expect(banner.getByRole("link", { name: "ci-deploy" })).toHaveAttribute("href", /\/profile\/security\/tokens\/\d+\/edit$/);
  await expect(banner).not.toContainText("long-lived");
  await expectNoHorizontalScroll(page);
  expect(errors).toEqual([]);
});

test("a webhook shows its secret once, and its delivery log shows the retry after a 500", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  const hook = await receiver();
  try {
    await signUp(page, uniqueUser(testInfo, "hook"));
    await page.goto("/profile/security/notifications");
    await waitForHydration(page);
    await expect(page.getByRole("heading", { name: "Notifications", level: 1 })).toBeVisible();
    // no SMTP server on this instance: the page says so
    await expect(page.getByText("This server does not send mail")).toBeVisible();
    // a bad URL is a field error and keeps what was typed
    await page.getByLabel("Endpoint URL").fill("ftp://example.com/x");
    await page.getByLabel("Description").fill("CI alerts");
    await page.getByRole("button", { name: "Add webhook" }).click();
    await expect(page.locator("#webhook-url-error")).toContainText("must start with https://");
    await expect(page.getByLabel("Description")).toHaveValue("CI alerts");
    await page.getByLabel("Endpoint URL").fill(hook.url);
    const sudo = page.locator("#field-sudo_password-webhook");
    if (await sudo.isVisible()) await sudo.fill(PASSWORD);
    await page.getByRole("button", { name: "Add webhook" }).click();
    const secret = page.locator("[data-webhook-secret]");
    await expect(secret).toContainText(/^whsec_/);
    const shown = await secret.innerText();
    await expect(page.getByText("it is shown only once")).toBeVisible();
    await page.goto("/profile/security/notifications");
    await expect(page.locator("body")).not.toContainText(shown);
    await expect(page.locator(".webhook-url")).toHaveText(hook.url);
    // Send test event: the first attempt gets 500, the retry 204
    await page.getByRole("button", { name: `Send test event to ${hook.url}` }).click();
    await expect(page.getByText("Test event queued")).toBeVisible();
    await expect.poll(() => hook.calls.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect(hook.calls[0].status).toBe(500);
    expect(hook.calls[1].id).toBe(hook.calls[0].id);
    expect(hook.calls[1].body.type).toBe("webhook.test");
    await expect
      .poll(async () => {
        await page.reload();
        return page.locator("table.delivery-log tbody tr[data-event='webhook.test']").first().innerText();
      }, { timeout: 10_000 })
      .toContain("Delivered (2 attempts)");
    await expect(page.getByRole("region", { name: `Delivery log of ${hook.url}` })).toBeVisible();
    await expectNoHorizontalScroll(page);
    await page.screenshot({ path: testInfo.outputPath("notifications.png"), fullPage: true });
    // delete it
    await page.getByRole("button", { name: `Delete webhook ${hook.url}` }).click();
    await expect(page.getByText("Webhook deleted.")).toBeVisible();
    await expect(page.getByText("No webhooks yet.")).toBeVisible();
    // the refused URL's answer is a 422 page, which the browser logs
    expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
  } finally {
    hook.close();
  }
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("adding a webhook works as a plain form", async ({ page }, testInfo) => {
    await signUp(page, uniqueUser(testInfo, "nojs"));
    await page.goto("/profile/security/notifications");
    await page.getByLabel("Endpoint URL").fill("https://hooks.example.com/tessera");
    const sudo = page.locator("#field-sudo_password-webhook");
    if (await sudo.isVisible()) await sudo.fill(PASSWORD);
    await page.getByRole("button", { name: "Add webhook" }).click();
    await expect(page.locator("[data-webhook-secret]")).toContainText(/^whsec_/);
    await expect(page.locator(".webhook-url")).toHaveText("https://hooks.example.com/tessera");
  });
});
