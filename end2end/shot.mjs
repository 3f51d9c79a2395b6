import { chromium } from "@playwright/test";
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
for (const [name, vp] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 360, height: 740 }]]) {
  const ctx = await browser.newContext({ viewport: vp, deviceScaleFactor: 1, baseURL: "http://127.0.0.1:3999" });
  const page = await ctx.newPage();
  await page.goto("/signin");
  await page.getByLabel("Username").fill("root");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/tokens/);
  for (const p of ["/admin/users", "/admin/policies", "/admin/audit", "/profile/security/activity"]) {
    await page.goto(p);
    await page.screenshot({ path: `/tmp/adm/${name}-${p.replaceAll("/", "_")}.png`, fullPage: true });
  }
  await ctx.close();
}
await browser.close();
