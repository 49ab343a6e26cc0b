// Sign-in in headless Chromium against `credwatch demo --sign-in` (the emulator plays Entra ID):
// a visit to the dashboard lands on the sign-in page, the admin signs in and sees the dashboard
// with no console message, the session cookie is HttpOnly and SameSite=Lax, acknowledges a
// credential from an application page and finds it in the event log, signs out with the header's
// button, and a user without a role gets the 403 page naming the role to ask for.
//
//   node .ci/sign-in-check.mjs MODULES_DIR BASE_URL
import { createRequire } from "node:module";
import path from "node:path";

const [modules, base] = process.argv.slice(2);
if (!modules || !base) {
  console.error("usage: sign-in-check.mjs MODULES_DIR BASE_URL");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), "package.json"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
});
let failures = 0;
const fail = (what) => {
  console.error(`sign-in: FAIL: ${what}`);
  failures++;
};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // A failed load shows up as a console message too; those are judged by the response handler,
  // which knows the resource: the 403 page is expected, a favicon may be missing.
  page.on("console", (m) => {
    if (!m.text().startsWith("Failed to load resource")) fail(`console ${m.type()}: ${m.text()} on ${page.url()}`);
  });
  page.on("response", (r) => {
    const kind = r.request().resourceType();
    if (r.status() >= 400 && kind !== "document" && !r.url().endsWith("/favicon.ico")) fail(`${r.url()}: HTTP ${r.status()}`);
  });

  await page.goto(`${base}/`, { waitUntil: "load" });
  if (!page.url().includes("/oauth2/v2.0/authorize")) fail(`/ did not lead to the sign-in page but to ${page.url()}`);
  await page.getByRole("button", { name: /Ada Admin/ }).click();
  await page.waitForURL(`${base}/`);
  const dashboard = await page.content();
  if (!dashboard.includes("credwatch's own credentials")) fail("the dashboard after sign-in lacks its content");
  const cookie = (await context.cookies(base)).find((c) => c.name === "credwatch_session");
  if (!cookie) fail("no session cookie");
  else if (!cookie.httpOnly || cookie.sameSite !== "Lax") fail(`session cookie flags: ${JSON.stringify({ httpOnly: cookie.httpOnly, sameSite: cookie.sameSite })}`);
  const readable = await page.evaluate(() => document.cookie.includes("credwatch_session"));
  if (readable) fail("script can read the session cookie");

  // Act as the signed-in admin: acknowledge a credential on an application page, see it logged.
  const appLink = page.locator('a[href*="/applications/"]').first();
  if ((await appLink.count()) === 0) fail("the dashboard links no application page");
  else {
    await appLink.click();
    await page.waitForLoadState("load");
    const form = page.locator("form.act-form").first();
    if ((await form.count()) === 0) fail(`no action form on ${page.url()} for the signed-in admin`);
    else {
      await form.locator('input[name="note"]').fill("on it, from Chromium");
      await form.getByRole("button", { name: "I'm on it" }).click();
      await page.waitForLoadState("load");
      await page.goto(page.url().split("?")[0].replace(/\/actions$/, ""), { waitUntil: "load" });
      const log = (await page.locator("table.events").textContent()) || "";
      if (!/acknowledged/.test(log) || !/on it, from Chromium/.test(log) || !/ada/i.test(log))
        fail(`the event log does not show Ada's acknowledgement: ${log.slice(0, 300)}`);
    }
  }

  // The header's sign-out button (a POST form).
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForLoadState("load");
  if (!(await page.content()).includes("Signed out")) fail("signing out did not say so");
  await page.goto(`${base}/`, { waitUntil: "load" });
  if (!page.url().includes("/oauth2/v2.0/authorize")) fail(`after logout / gave ${page.url()}`);

  await page.getByRole("button", { name: /Nora No-Role/ }).click();
  await page.waitForLoadState("load");
  const refused = await page.content();
  if (!refused.includes("credwatch.read")) fail("the user without a role was not told which role to ask for");
  console.log(`sign-in: ${failures ? "failed" : "ok"}: sign-in, dashboard, cookie flags, act, sign-out, no-role page`);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
