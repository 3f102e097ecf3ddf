// The console in a real browser: Debian's Chromium driven by playwright-core
// (tests/browser/, installed from npm by tools/setup.sh; no browser download)
// against a real job's console.
//
//   node tests/console_browser_test.mjs VERIFORGE SOURCE_DIR SCREENSHOT_DIR
//
// Checks, on a running offline job:
//   * the page's numbers match GET /api/v1/job (name, target, counts in the
//     range the API gave around the page's reading);
//   * a control without the token (the page asks for it), and with a wrong one
//    (403), is refused and the
//     job keeps running;
//   * Pause (with the token) stops the job issuing items: generated stays
//     flat for 4 s; Resume (pressed by keyboard) lets it finish at its target;
//   * a limit set from the page's form is recorded (GET /api/v1/config);
//   * the page logs no console error and throws nothing while the job runs;
//   * screenshots at 1280x800 and at phone width (390x844) into SCREENSHOT_DIR.
// Exit 77 (skipped, with the reason) when Chromium or playwright-core is missing.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";

const [veriforge, src, shots] = process.argv.slice(2);
if (!veriforge || !src || !shots) {
  console.error("usage: console_browser_test.mjs VERIFORGE SOURCE_DIR SCREENSHOT_DIR");
  process.exit(2);
}
const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));
if (!chromiumPath) {
  console.log("skipped: Debian's chromium is not installed (tools/setup.sh installs it)");
  process.exit(77);
}
let chromium;
try {
  chromium = createRequire(path.resolve(src, "tests/browser/package.json"))("playwright-core").chromium;
} catch (e) {
  console.log("skipped: playwright-core is not installed in tests/browser (tools/setup.sh runs npm ci there)");
  process.exit(77);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
function check(ok, what) {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures.push(what);
}
async function until(what, fn, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { /* not yet */ }
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(100);
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "veriforge-browser-"));
const out = path.join(work, "job");
const token = crypto.randomBytes(16).toString("hex");
// Chromium writes under ~/.config and ~/.cache even with a profile folder.
const env = { ...process.env, VERIFORGE_CONSOLE_TOKEN: token, XDG_CONFIG_HOME: path.join(work, "xdg-config"),
              XDG_CACHE_HOME: path.join(work, "xdg-cache") };
const target = 200;
const job = spawn(veriforge, ["run", path.join(src, "configs/local.toml"), "--out", out, "--no-progress",
                              "--console", "127.0.0.1:0", "--set", `target_accepted=${target}`],
                  { env, stdio: ["ignore", "ignore", "pipe"] });
let jobStderr = "";
job.stderr.on("data", (d) => { jobStderr += d; });
let exitCode = null;
const exited = new Promise((resolve) => job.on("exit", (code) => { exitCode = code; resolve(code); }));

let browser;
try {
  const url = (await until("console.url", () => fs.existsSync(path.join(out, "console.url")) &&
                                               fs.readFileSync(path.join(out, "console.url"), "utf8").trim())).trim();
  const api = async (p) => (await fetch(new URL(p, url))).json();

  browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
                                    args: ["--no-sandbox", "--disable-dev-shm-usage", "--log-level=3"], env });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  let jobEnded = false;  // after the job exits, a lost event stream is expected, not a page error
  page.on("console", (m) => { if (m.type() === "error" && !jobEnded) errors.push(m.text()); });
  page.on("pageerror", (e) => { if (!jobEnded) errors.push(String(e)); });
  await page.goto(url);
  await until("the page to show the running job", async () =>
    (await page.textContent("#state")) === "running" && Number((await page.textContent("#generated")).replace(/,/g, "")) > 0);

  // The page's numbers against the API's, read around it.
  const before = await api("api/v1/job");
  await sleep(1500);
  const shown = {
    name: await page.textContent("#job-name"),
    target: Number((await page.textContent("#target")).replace(/,/g, "")),
    generated: Number((await page.textContent("#generated")).replace(/,/g, "")),
    accepted: Number((await page.textContent("#accepted")).replace(/,/g, "")),
  };
  const after = await api("api/v1/job");
  check(shown.name === after.name, `job name shown (${shown.name}) is the API's (${after.name})`);
  check(shown.target === target && after.target === target, `target shown ${shown.target} = API ${after.target} = ${target}`);
  check(shown.generated >= before.generated && shown.generated <= after.generated,
        `generated shown ${shown.generated} within the API's ${before.generated}..${after.generated}`);
  check(shown.accepted >= before.accepted && shown.accepted <= after.accepted,
        `accepted shown ${shown.accepted} within the API's ${before.accepted}..${after.accepted}`);
  const stageRows = await page.locator("#stages tr").count();
  check(stageRows === after.stages.length && stageRows >= 3, `one pipeline row per stage (${stageRows})`);

  // The job running, as the README shows it (after a few seconds of chart).
  fs.mkdirSync(shots, { recursive: true });
  await sleep(3000);
  await page.screenshot({ path: path.join(shots, "console-running-1280x800.png") });

  // Refused without the token, and with a wrong one; the job keeps running.
  await page.click("#pause");
  check(/token/i.test(await page.textContent("#message")), "Pause without a token asks for it");
  await page.fill("#token", "not-the-token");
  const errorsBefore = errors.length;
  await page.click("#pause");
  await until("the refusal", async () => /refused \(403\)/.test(await page.textContent("#message")), 10000);
  // Chromium logs the refused request itself as a console error: expected here, and only that one.
  const refusedLogged = errors.splice(errorsBefore).filter((e) => !/status of 403/.test(e));
  errors.push(...refusedLogged);
  check(true, "Pause with a wrong token is refused (403)");
  check((await api("api/v1/job")).state === "running", "the job still runs after the refusals");

  // Pause: no new items for several seconds.
  await page.fill("#token", token);
  await page.click("#pause");
  await until("the paused state", async () => (await page.textContent("#state")) === "paused", 10000);
  await sleep(1500);  // what was being logged when the pause came is issued
  const g0 = (await api("api/v1/job")).generated;
  await sleep(4000);
  const g1 = (await api("api/v1/job")).generated;
  check(g0 === g1, `paused: generated stays ${g0} for 4 s (now ${g1})`);
  check(g1 < target * 1.2, "paused before the job could finish");

  // A limit from the form: recorded and shown in the effective config.
  await page.selectOption("#set-key", "executor.concurrency");
  await page.fill("#set-value", "1");
  await page.click("#set-form button[type=submit]");
  await until("the set confirmation", async () => /executor\.concurrency = 1: set/.test(await page.textContent("#message")), 10000);
  const config = await api("api/v1/config");
  check(config.changed_while_running && config.changed_while_running["executor.concurrency"] === 1,
        "executor.concurrency = 1 recorded in the effective config");
  const sandbox = await api("api/v1/sandbox");
  check(sandbox.concurrency === 1, `the sandbox now runs ${sandbox.concurrency} at a time`);

  // Screenshots while paused with data on the page.
  await page.screenshot({ path: path.join(shots, "console-1280x800.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(500);
  await page.screenshot({ path: path.join(shots, "console-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  // Back to every worker (through the API), so the rest of the job runs at full speed.
  const back = await fetch(new URL("api/v1/job/set", url), { method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ key: "executor.concurrency", value: sandbox.workers }) });
  check(back.status === 200, `executor.concurrency back to ${sandbox.workers} (${back.status})`);

  // Resume by keyboard; the job finishes at its target.
  await page.focus("#resume");
  await page.keyboard.press("Enter");
  await until("the running state", async () => (await page.textContent("#state")) === "running", 10000);
  check(true, "Resume pressed with the keyboard");
  const code = await Promise.race([exited, sleep(120000).then(() => "timeout")]);
  // The console's last frame tells the page how the job ended.
  const finalState = await until("the page to show the end", async () => {
    const st = await page.textContent("#state");
    return ["finished", "stopped", "failed"].includes(st) && st;
  }, 10000).catch(() => "not shown");
  await sleep(1000);  // anything the page does once the server is gone shows up now
  jobEnded = true;
  check(finalState === "finished", `the page shows the job finished (${finalState})`);
  check(Number((await page.textContent("#accepted")).replace(/,/g, "")) === target,
        `the page shows accepted = target at the end (${await page.textContent("#accepted")})`);
  check(code === 0, `the job exited 0 (${code})`);
  const lines = fs.readFileSync(path.join(out, "accepted.jsonl"), "utf8").trim().split("\n").length;
  check(lines === target, `accepted.jsonl holds ${lines} records (target ${target})`);
  const controls = JSON.parse(execLog(out));
  check(controls.includes("pause") && controls.includes("resume") && controls.includes("set"),
        "pause, resume and set are in the checkpoint log's control record");
  check(errors.length === 0, "no console errors on the page" + (errors.length ? ": " + errors.join(" | ") : ""));
} catch (e) {
  failures.push(String(e));
  console.log("FAIL " + e);
} finally {
  if (browser) await browser.close();
  if (exitCode === null) job.kill("SIGKILL");
}
if (failures.length) {
  console.log(jobStderr.slice(-3000));
  console.log(`console_browser: ${failures.length} failed`);
  process.exit(1);
}
fs.rmSync(work, { recursive: true, force: true });
console.log("console_browser: all checks passed");
// Idle keep-alive sockets of fetch() would hold the process for ~100 s more.
process.exit(0);

// The actions recorded in the job's log (read back through `veriforge console DIR`).
function execLog(dir) {
  // The finished job's console, read-only, serves the record of its controls.
  const { execFileSync } = createRequire(import.meta.url)("node:child_process");
  const script = `
    const { spawn } = require("node:child_process");
    const p = spawn(${JSON.stringify(veriforge)}, ["console", ${JSON.stringify(dir)}, "--listen", "127.0.0.1:0"]);
    let out = "";
    p.stdout.on("data", async (d) => {
      out += d;
      const m = out.match(/at (http:\\/\\/\\S+)/);
      if (!m) return;
      const r = await (await fetch(new URL("api/v1/controls", m[1]))).json();
      console.log(JSON.stringify(r.controls.map((c) => c.action)));
      p.kill("SIGTERM");
    });`;
  return execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30000 });
}
