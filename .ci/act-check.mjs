// Follows a reminder's signed "I'm on it" link in headless Chromium as a person would: the link
// shows a confirmation and changes nothing (opened twice, as mail scanners do), the button acts,
// and the link then says it was used. Fails on any console message on these pages.
//
//   node .ci/act-check.mjs MODULES_DIR LINK_URL
import { createRequire } from "node:module";
import path from "node:path";

const [modules, link] = process.argv.slice(2);
if (!modules || !link) {
  console.error("usage: act-check.mjs MODULES_DIR LINK_URL");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), "package.json"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
let failures = 0;
const fail = (why) => {
  console.error(`act: FAIL: ${why}`);
  failures++;
};
try {
  const page = await (await browser.newContext()).newPage();
  // The reused link's 409 is expected, and Chromium reports every 4xx page on the console.
  let refusalExpected = false;
  page.on("console", (m) => {
    if (!(refusalExpected && m.text().includes("409"))) fail(`console ${m.type()}: ${m.text()}`);
  });
  for (const visit of [1, 2]) {
    const r = await page.goto(link, { waitUntil: "load" });
    if (r.status() !== 200) fail(`GET ${visit}: HTTP ${r.status()}`);
    const text = await page.innerText("main");
    if (!text.includes("ops@example.com is on it")) fail(`GET ${visit}: no confirmation: ${text}`);
  }
  // The confirmation page links to the credential's application.
  const application = new URL(await page.getAttribute("a:text('Open the application in credwatch')", "href"), link).href;
  const before = await (await page.goto(application, { waitUntil: "load" })).text();
  if (before.includes("acknowledged by ops@example.com")) fail("a GET of the link acted");

  await page.goto(link, { waitUntil: "load" });
  const [response] = await Promise.all([page.waitForNavigation(), page.click("form button[type=submit]")]);
  if (response.status() !== 200) fail(`POST: HTTP ${response.status()}`);
  const done = await page.innerText("main");
  if (!done.includes("Acknowledged")) fail(`POST: not acknowledged: ${done}`);

  const after = await (await page.goto(application, { waitUntil: "load" })).text();
  if (!after.includes("acknowledged by ops@example.com")) fail("the application page does not show the acknowledgement");

  refusalExpected = true;
  const again = await page.goto(link, { waitUntil: "load" });
  if (again.status() !== 409) fail(`reused link: HTTP ${again.status()}`);
  if (!(await page.innerText("main")).includes("already used")) fail("reused link: no explanation");
} finally {
  await browser.close();
}
if (failures > 0) process.exit(1);
console.log("act: the link confirms on GET, acts once on POST, and refuses reuse");
