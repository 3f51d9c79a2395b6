import { test, expect, type Page } from "@playwright/test";
import { createHmac } from "node:crypto";
import {
  uniqueUser,
  signUp,
  signIn,
  signOut,
  watchForPageErrors,
  expectNoHorizontalScroll,
} from "./helpers";

// Two-factor authentication with an authenticator app: the codes come from
// this test's own RFC 6238 (HMAC-SHA-1, 6 digits, 30 s), not from Tessera.

function base32(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code of `key` (base32) at unix time `at`. */
function totp(key: string, at: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = createHmac("sha1", base32(key)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return n.toString().padStart(6, "0");
}

test("RFC 6238's own vector", () => {
  // appendix B, SHA-1, T = 59: 94287082, of which an app shows 287082
  // (the key "12345678901234567890" in base32)
  expect(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59)).toBe("287082");
  expect(totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 1111111109)).toBe("081804");
});

/** Adds an app on the Two-factor page; its key, when its code was made, the recovery codes. */
async function addApp(page: Page): Promise<{ key: string; at: number; codes: string[] }> {
  await page.goto("/profile/security/two-factor");
  await expect(page.getByText("Two-factor authentication is off.")).toBeVisible();
  await page.getByRole("button", { name: "Add an authenticator app" }).click();
  await expect(page.getByRole("heading", { name: "Add an authenticator app" })).toBeVisible();
  await expect(page.getByRole("img", { name: "QR code of the key for your authenticator app" })).toBeVisible();
  await expectNoHorizontalScroll(page);
  const key = (await page.locator("code.totp-key").textContent()) ?? "";
  expect(key.replace(/\s/g, "")).toMatch(/^[A-Z2-7]{32}$/);
  const at = Math.floor(Date.now() / 1000);
  await page.getByLabel("Name").fill("Work phone");
  await page.getByLabel("Authentication code").fill(totp(key, at));
  await page.getByRole("button", { name: "Verify and add" }).click();
  const list = page.getByRole("list", { name: "Recovery codes" });
  await expect(list).toBeVisible();
  const codes = (await list.locator("code").allTextContents()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  await expectNoHorizontalScroll(page);
  return { key, at, codes };
}

test("an authenticator app is added, then asked for at sign-in", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  const username = uniqueUser(testInfo, "tf");
  await signUp(page, username);
  await page.getByRole("navigation", { name: "Security settings" }).getByRole("link", { name: "Two-factor authentication" }).click();
  const { key, at } = await addApp(page);
  await page.goto("/profile/security/two-factor");
  await expect(page.getByText("Two-factor authentication is on.")).toBeVisible();
  await expect(page.getByText("Work phone")).toBeVisible();
  await expect(page.getByText("10 of 10 recovery codes unused.", { exact: false })).toBeVisible();
  await signOut(page, username);
  await signIn(page, username);
  await expect(page).toHaveURL(/\/signin\/two-factor$/);
  await expect(page.getByRole("heading", { name: "Two-factor authentication" })).toBeVisible();
  await expectNoHorizontalScroll(page);
  // the code just used is refused: a code works once
  await page.getByLabel("Authentication code").fill(totp(key, at));
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.getByText("That code is not valid.", { exact: false })).toBeVisible();
  await page.getByLabel("Authentication code").fill(totp(key, at + 30));
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
  await expect(page.getByLabel(`Profile menu for ${username}`)).toBeVisible();
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("a recovery code signs in once", async ({ page }, testInfo) => {
    const username = uniqueUser(testInfo, "tr");
    await signUp(page, username);
    const { codes } = await addApp(page);
    await page.context().clearCookies();
    await page.goto("/signin");
    await signIn(page, username);
    await expect(page).toHaveURL(/\/signin\/two-factor$/);
    await page.getByText("Use a recovery code").click();
    await page.getByLabel("Recovery code").fill(codes[0]);
    await page.getByRole("button", { name: "Use recovery code" }).click();
    await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
    await page.context().clearCookies();
    await page.goto("/signin");
    await signIn(page, username);
    await page.getByText("Use a recovery code").click();
    await page.getByLabel("Recovery code").fill(codes[0]);
    await page.getByRole("button", { name: "Use recovery code" }).click();
    await expect(page.getByText("That recovery code is not valid or was used already.")).toBeVisible();
  });
});
