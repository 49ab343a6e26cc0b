// Accessibility audit of credwatch's pages: loads each URL in headless Chromium and runs axe-core
// on the rendered page; any serious or critical violation fails the run. Also saves a screenshot
// of the first page as a 1280x900 window shows it, for a person to look at.
//
//   node .ci/axe-check.mjs MODULES_DIR SCREENSHOT.png URL...
//
// MODULES_DIR holds node_modules with the versions pinned in .ci/package-lock.json
// (browser-check.sh installs them there).
import { createRequire } from "node:module";
import path from "node:path";

const [modules, screenshot, ...urls] = process.argv.slice(2);
if (!modules || !screenshot || urls.length === 0) {
  console.error("usage: axe-check.mjs MODULES_DIR SCREENSHOT.png URL...");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), "package.json"));
const { chromium } = require("playwright-core");
const axePath = require.resolve("axe-core/axe.min.js");

// The impacts that fail the check; moderate and minor ones are printed only.
const FAILING = new Set(["serious", "critical"]);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failures = 0;
try {
  // axe is injected as a script: the page's CSP (script-src 'self') would refuse it, and the CSP
  // itself is checked apart, on the untouched page, by browser-check.sh.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  for (const [i, url] of urls.entries()) {
    const page = await context.newPage();
    const response = await page.goto(url, { waitUntil: "load" });
    if (!response || response.status() !== 200) {
      console.error(`axe: FAIL: ${url}: HTTP ${response ? response.status() : "no response"}`);
      failures++;
      continue;
    }
    if (i === 0) {
      await page.screenshot({ path: screenshot });
      console.log(`axe: screenshot of ${url}: ${screenshot}`);
    }
    await page.addScriptTag({ path: axePath });
    const results = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
    );
    for (const v of results.violations) {
      const failing = FAILING.has(v.impact);
      if (failing) failures++;
      console.log(`axe: ${failing ? "FAIL" : "note"}: ${url}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} element(s))`);
      for (const node of v.nodes.slice(0, 5)) {
        console.log(`      ${node.target.join(" ")}: ${node.failureSummary.replace(/\s+/g, " ")}`);
      }
    }
    console.log(`axe: ${url}: ${results.passes.length} rules passed, ${results.violations.length} violated`);
    await page.close();
  }
} finally {
  await browser.close();
}
if (failures > 0) {
  console.error(`axe: ${failures} serious or critical violation(s)`);
  process.exit(1);
}
console.log("axe: no serious or critical violation");
