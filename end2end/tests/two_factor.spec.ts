import { test, expect, type Page } from "@playwright/test";
import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import { passkeyURL, passkeyDatabase } from "../playwright.config";
import {
  uniqueUser,
  signUp,
  signIn,
  signOut,
  waitForHydration,
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
  // the refused code's 422 is the only complaint
  expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
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

// Passkeys through Chromium's DevTools virtual authenticator (a platform
// authenticator with resident keys and user verification), on a server
// reached as localhost.
test.describe("passkeys", () => {
  test.use({ baseURL: passkeyURL });

  async function virtualAuthenticator(page: Page) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    return { cdp, authenticatorId };
  }

  /** Sudo mode of every session on the passkey server ends (as 10 minutes would). */
  function endSudo() {
    const file = passkeyDatabase.replace(/^sqlite:\/\//, "");
    execFileSync("/usr/bin/python3", [
      "-c",
      "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE sessions SET password_at = '2000-01-01T00:00:00Z'\"); c.commit()",
      file,
    ]);
  }

  test("a passkey is added, then signs in as the second factor, alone, and confirms sudo mode", async ({ page }, testInfo) => {
    const errors = watchForPageErrors(page);
    const { cdp, authenticatorId } = await virtualAuthenticator(page);
    const username = uniqueUser(testInfo, "pk");
    await signUp(page, username);
    await page.goto("/profile/security/two-factor");
    await waitForHydration(page);
    await page.getByLabel("Passkey name").fill("Laptop");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await expect(page).toHaveURL(/\/profile\/security\/two-factor\?done=passkey-added$/);
    await expect(page.getByRole("status").filter({ hasText: "Passkey added." })).toBeVisible();
    await expect(page.getByText("Laptop", { exact: true })).toBeVisible();
    await expect(page.getByText("You have no recovery codes.", { exact: false })).toBeVisible();
    await expectNoHorizontalScroll(page);
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0].isResidentCredential).toBe(true);

    // the second step of a password sign-in
    await signOut(page, username);
    await signIn(page, username);
    await expect(page).toHaveURL(/\/signin\/two-factor$/);
    await waitForHydration(page);
    await page.getByRole("button", { name: "Use a passkey" }).click();
    await expect(page).toHaveURL(/\/profile\/security\/tokens$/);

    // a passkey alone
    await signOut(page, username);
    await waitForHydration(page);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
    await expect(page.getByLabel(`Profile menu for ${username}`)).toBeVisible();

    // sudo mode confirmed with the passkey instead of the password
    endSudo();
    await page.goto("/profile/security/two-factor");
    await waitForHydration(page);
    const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Generate new recovery codes" }) });
    await form.getByRole("button", { name: "Confirm with a passkey instead" }).click();
    await expect(form.getByLabel("Confirm your password")).toBeHidden();
    await form.getByRole("button", { name: "Generate new recovery codes" }).click();
    await expect(page.getByRole("list", { name: "Recovery codes" }).locator("code")).toHaveCount(10);
    const { credentials: after } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(after[0].signCount).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]);
  });

  test("a passkey another server made is not accepted here", async ({ page }) => {
    const { cdp, authenticatorId } = await virtualAuthenticator(page);
    // a resident credential of this relying party no account knows
    await cdp.send("WebAuthn.addCredential", {
      authenticatorId,
      credential: {
        credentialId: Buffer.from("not-registered-here").toString("base64"),
        isResidentCredential: true,
        rpId: "localhost",
        privateKey: await unknownKey(),
        userHandle: Buffer.from("0123456789abcdef").toString("base64"),
        signCount: 1,
      },
    });
    await page.goto("/signin");
    await waitForHydration(page);
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await expect(page.getByRole("alert")).toHaveText("That passkey is not registered on this server.");
    await expect(page).toHaveURL(/\/signin$/);
  });
});

/** A fresh P-256 private key, PKCS#8, base64 (what the virtual authenticator takes). */
async function unknownKey(): Promise<string> {
  const { generateKeyPairSync } = await import("node:crypto");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return privateKey.export({ format: "der", type: "pkcs8" }).toString("base64");
}
