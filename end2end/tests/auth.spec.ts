import { expect, test } from "@playwright/test";
import {
  PASSWORD,
  expectNoHorizontalScroll,
  openProfileMenu,
  signIn,
  signOut,
  signUp,
  uniqueUser,
  waitForHydration,
  watchForPageErrors,
} from "./helpers";

test("sign up, sign out, sign in, and reach the Security page from the profile menu", async ({ page }, testInfo) => {
  const errors = watchForPageErrors(page);
  const username = uniqueUser(testInfo, "flow");
  await signUp(page, username);
  await waitForHydration(page);
  await expect(page.getByRole("heading", { name: "Personal access tokens", exact: true })).toBeVisible();

  await signOut(page, username);
  await expect(page.getByText("You have been signed out.")).toBeVisible();

  await signIn(page, username);
  await expect(page).toHaveURL(/\/profile\/security\/tokens$/);

  await page.goto("/");
  await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
  await openProfileMenu(page, username);
  await page.getByRole("menuitem", { name: "Change password" }).click();
  await expect(page.getByRole("heading", { name: "Change password" })).toBeVisible();
  await openProfileMenu(page, username);
  await page.getByRole("menuitem", { name: "Security" }).click();
  await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
  await expect(page.getByRole("heading", { name: "Personal access tokens", exact: true })).toBeVisible();
  await expectNoHorizontalScroll(page);
  await page.screenshot({ path: testInfo.outputPath(`security-${testInfo.project.name}.png`), fullPage: true });
  expect(errors).toEqual([]);
});

test("a stranger is sent to sign in and brought back afterwards", async ({ page }, testInfo) => {
  const username = uniqueUser(testInfo, "back");
  await signUp(page, username);
  await signOut(page, username);
  await page.goto("/profile/security/password");
  await expect(page).toHaveURL(/\/signin\?next=/);
  await signIn(page, username);
  await expect(page).toHaveURL(/\/profile\/security\/password$/);
});

test("bad input gets field-level messages and keeps what was typed", async ({ page }, testInfo) => {
  const username = uniqueUser(testInfo, "bad");
  await page.goto("/signup");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill("password1234");
  await page.getByLabel("Confirm password").fill("password1234");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText("This password is too easy to guess.")).toBeVisible();
  await expect(page.getByLabel("Username")).toHaveValue(username);
  await expect(page.getByLabel("Password", { exact: true })).toHaveAttribute("aria-invalid", "true");

  await page.goto("/signin");
  await signIn(page, username, "wrong password here");
  await expect(page.getByRole("alert")).toHaveText("Incorrect username or password.");
  await expect(page.getByLabel("Username")).toHaveValue(username);
  await expectNoHorizontalScroll(page);
  await page.screenshot({ path: testInfo.outputPath(`signin-error-${testInfo.project.name}.png`), fullPage: true });
});

test.describe("with JavaScript disabled", () => {
  test.use({ javaScriptEnabled: false });

  test("sign up, sign out and sign in still work as plain forms", async ({ page }, testInfo) => {
    const username = uniqueUser(testInfo, "nojs");
    await signUp(page, username);
    await expect(page.getByRole("heading", { name: "Personal access tokens", exact: true })).toBeVisible();
    await signOut(page, username);
    await signIn(page, username, PASSWORD);
    await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
    await openProfileMenu(page, username);
    await page.getByRole("menuitem", { name: "Security" }).click();
    await expect(page.getByRole("heading", { name: "Personal access tokens", exact: true })).toBeVisible();
  });
});
