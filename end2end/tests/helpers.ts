import { execFileSync } from "node:child_process";
import { expect, type Page, type TestInfo } from "@playwright/test";
import { govDatabase, sudoDatabase } from "../playwright.config";

export const PASSWORD = "correct horse battery staple";

let counter = 0;
/** A username no other test (or earlier run on this database) has used. */
export function uniqueUser(testInfo: TestInfo, prefix = "u"): string {
  counter += 1;
  const stamp = Date.now().toString(36);
  return `${prefix}-${testInfo.project.name}-${stamp}-${testInfo.workerIndex}${counter}`.slice(0, 32);
}

/** Fails the test on any uncaught error in the page (e.g. a hydration panic). */
export function watchForPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return errors;
}

/** Waits until the WASM bundle has hydrated the page (when JS is on). */
export async function waitForHydration(page: Page) {
  await page.locator("html[data-hydrated='true']").waitFor({ state: "attached", timeout: 20_000 });
}

export async function signUp(page: Page, username: string, password = PASSWORD) {
  await page.goto("/signup");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByLabel("Confirm password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/profile\/security\/tokens$/);
}

export async function signIn(page: Page, username: string, password = PASSWORD) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

export async function openProfileMenu(page: Page, username: string) {
  await page.getByLabel(`Profile menu for ${username}`).click();
}

export async function signOut(page: Page, username: string) {
  await openProfileMenu(page, username);
  await page.getByRole("menuitem", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin\?signed_out=1$/);
}

/** The page never scrolls sideways (phone layouts). */
export async function expectNoHorizontalScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

/** Presses Tab until `target` has focus (keyboard-only navigation). */
export async function tabTo(page: Page, target: import("@playwright/test").Locator, max = 60) {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error("could not reach the element with Tab");
}

/** Creates a token through the page's server function (fast seeding). */
export async function seedToken(page: Page, name: string, extra: Record<string, unknown> = {}) {
  const res = await page.request.post("/rpc/tokens/create", {
    data: { form: { name, expiry: "30", scope_mode: "full", ...extra }, sudo_password: "" },
  });
  expect(res.ok()).toBeTruthy();
  const body = await res.json();
  expect(body.Done).toBeTruthy();
  return body.Done as { token: { id: number; name: string }; secret: string };
}

export const dialog = (page: Page) => page.locator("dialog.modal[open]");

/** Every interactive control in `scope` is at least 44×44 CSS px. */
export async function expectTouchTargets(scope: import("@playwright/test").Locator) {
  const small = await scope.evaluate((root) => {
    const bad: string[] = [];
    root.querySelectorAll("a.button, button, a.icon-button, select, input:not([type=hidden]), a.switch").forEach((el) => {
      const r = (el as HTMLElement).getBoundingClientRect();
      if (r.width === 0 && r.height === 0) return; // not displayed
      if (r.height < 44 || r.width < 44) bad.push(`${el.tagName} "${(el as HTMLElement).innerText || el.getAttribute("aria-label")}" ${r.width}x${r.height}`);
    });
    return bad;
  });
  expect(small).toEqual([]);
}

/** The level select of a scope area ("Code", "Work items") in the custom scope grid. */
export function scopeLevel(grid: import("@playwright/test").Locator, area: string) {
  return grid.locator(`select[name="scope_${area.toLowerCase().replace(/ /g, "_")}"]`);
}

/** Runs `tessera admin ARGS` on the governance server's database (as an operator would). */
export function govAdmin(...args: string[]): string {
  return adminOn(govDatabase, ...args);
}

/** `tessera admin …` on the database of the server whose sudo mode lasts 0 minutes. */
export function sudoAdmin(...args: string[]): string {
  return adminOn(sudoDatabase, ...args);
}

function adminOn(database: string, ...args: string[]): string {
  return execFileSync("../target/release/tessera", ["admin", ...args], {
    env: { ...process.env, DATABASE_URL: database, RUST_LOG: "warn" },
    encoding: "utf8",
  });
}
