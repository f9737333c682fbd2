// The dashboard in headless Chromium (Debian's, driven by playwright-core) against a real
// `batch-host serve` that the Rust test started and fed: sign in with a token, watch a running job
// progress, open it, stop it, restart it, see a finished job's skipped items (hostile text shown
// as text) and download them, see the plugin catalogue; another tenant's token sees none of it.
//
// Environment: BASE, ACME_TOKEN, GLOBEX_TOKEN, RUNNING_ID (a running slow job), MEMBERS_ID (a
// finished job with 3 skipped members), SHOTS (a folder for screenshots), NODE_PATH (playwright).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env("BASE"), SHOTS = env("SHOTS");
const RUNNING = env("RUNNING_ID"), MEMBERS = env("MEMBERS_ID");
const checks = [];
const check = (what, ok, detail = "") => {
  checks.push({ what, ok: !!ok, detail: String(detail) });
  if (!ok) throw new Error(`${what}: ${detail}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("status of 4")) errors.push(m.text()); });
  page.on("requestfailed", (r) => errors.push("request failed: " + r.url() + " " + (r.failure() || {}).errorText));
  const shot = (name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: true });

  // Sign in: a wrong token is refused on the page, the right one opens the executions.
  await page.goto(BASE + "/");
  await page.fill("#token", "bh_0000000000000000_" + "0".repeat(64));
  await page.click("#login");
  await page.waitForSelector(".error");
  check("a wrong token is refused", (await page.textContent(".error")).includes("token"), await page.textContent(".error"));
  await shot("dashboard-login.png");
  await page.fill("#token", env("ACME_TOKEN"));
  await page.click("#login");
  await page.waitForSelector(`#executions tr[data-execution="${RUNNING}"]`);
  check("the tenant is shown", (await page.textContent("#who")).includes("acme"), await page.textContent("#who"));
  const readOf = async () => Number(await page.textContent(`#executions tr[data-execution="${RUNNING}"] td[data-col=read]`));
  const first = await readOf();
  await page.waitForFunction(([id, n]) => Number(document.querySelector(`#executions tr[data-execution="${id}"] td[data-col=read]`)?.textContent) > n, [RUNNING, first], { timeout: 30000 });
  check("the running job's read count moves with the live refresh", (await readOf()) > first, `${first} -> ${await readOf()}`);
  await shot("dashboard-executions.png");

  // Its page: stop it, then restart it.
  await page.click(`#executions tr[data-execution="${RUNNING}"] a`);
  await page.waitForSelector("#steps tr[data-step=s]");
  check("the execution page names the job", (await page.textContent("#job-name")) === "slow");
  await shot("dashboard-execution-running.png");
  await page.click("#stop");
  await page.waitForSelector("h1 [data-status=STOPPED]", { timeout: 60000 });
  check("stop ends the job STOPPED", true);
  await page.waitForSelector("#restart:not([disabled])");
  await page.click("#restart");
  await page.waitForFunction((id) => location.hash.startsWith("#/executions/") && location.hash !== `#/executions/${id}`, RUNNING);
  await page.waitForSelector("h1 [data-status=COMPLETED]", { timeout: 120000 });
  const restarted = (await page.evaluate(() => location.hash)).split("/").pop();
  check("restart runs a new execution to COMPLETED", restarted !== RUNNING, restarted);

  // A finished job with skipped items: flow, counters, chart, dead letters, download.
  await page.goto(`${BASE}/#/executions/${MEMBERS}`);
  await page.waitForSelector("#skipped tr.skipped-item");
  check("the flow taken is shown", (await page.textContent("#flow")).includes("migrate"));
  check("the step table has the counts", (await page.textContent('#steps tr[data-step=migrate] td[data-col=read]')) === "41" &&
    (await page.textContent('#steps tr[data-step=migrate] td[data-col=skip]')) === "0/4/0", await page.textContent("#steps"));
  const rows = await page.$$("#skipped tr.skipped-item");
  check("every skipped item is listed", rows.length === 4, rows.length);
  const skippedText = await page.textContent("#skipped");
  check("payload previews are shown", skippedText.includes("user7@@example.com"), skippedText);
  check("hostile text is shown as text, never as markup", skippedText.includes("<img src=x onerror=alert(1)>") &&
    (await page.$$("#skipped img")).length === 0, skippedText);
  await page.waitForSelector("#throughput path[data-step=migrate], #chart-empty");
  await shot("dashboard-execution.png");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const file = path.join(SHOTS, "downloaded-skipped.jsonl");
  await download.saveAs(file);
  const lines = fs.readFileSync(file, "utf8").trim().split("\n");
  fs.unlinkSync(file);
  check("the download holds every skipped item as JSON lines", lines.length === 4 && JSON.parse(lines[0]).kind === "validation.email", lines[0]);

  // The plugin catalogue with digests.
  await page.goto(`${BASE}/#/plugins`);
  await page.waitForSelector("#plugins tr[data-plugin=member-processor]");
  const digest = await page.textContent("#plugins tr[data-plugin=member-processor] td.mono");
  check("plugins are listed with their digests", /^[0-9a-f]{64}$/.test(digest), digest);
  await shot("dashboard-plugins.png");

  // Another tenant: none of it.
  await page.click("#logout");
  await page.waitForSelector("#token");
  await page.fill("#token", env("GLOBEX_TOKEN"));
  await page.click("#login");
  await page.waitForSelector("#executions td.muted");
  check("another tenant sees no executions", (await page.textContent("#executions")).includes("No executions yet"));
  await page.goto(`${BASE}/#/executions/${MEMBERS}`);
  await page.waitForSelector(".error");
  check("another tenant's execution is not found", (await page.textContent(".error")).includes(`no job execution ${MEMBERS}`), await page.textContent(".error"));
  await page.goto(`${BASE}/#/plugins`);
  await page.waitForSelector("#plugins td.muted");
  check("another tenant sees no plugins", (await page.textContent("#plugins")).includes("No plugins registered"));
  check("no script errors on any page", errors.length === 0, errors.join("; "));
} finally {
  await browser.close();
  console.log(JSON.stringify({ checks, errors }));
}
