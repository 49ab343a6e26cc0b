// Sign-in in headless Chromium against `credwatch demo --sign-in` (the emulator plays Entra ID):
// a visit to the dashboard lands on the sign-in page, the admin signs in and sees the dashboard
// with no console message, the session cookie is HttpOnly and SameSite=Lax, logout ends the
// session, and a user without a role gets the 403 page naming the role to ask for.
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
  console.log(`sign-in: ${failures ? "failed" : "ok"}: sign-in, dashboard, cookie flags, logout, no-role page`);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
