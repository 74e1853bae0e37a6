// The dashboard end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): logging in through the link the dashboard printed (it leads on to the clean
// URL), the cluster page and its node picker, a node's home page with its live figures and charts
// moving, the supervision trees, the OS page and the pipelines page filled live, the
// process table filtered, a process killed and gone, a supervisor's child killed and back
// with a new pid, a process's detail, and a page of another name that resolves to the
// dashboard's address (DNS rebinding, by Chromium's resolver rules) refused. Screenshots go to
// ARTIFACTS.
//
//   node web-tests/dashboard.mjs BASE_URL NODE ARTIFACTS LOGIN_PATH
//
// Exits 0 when every check holds; otherwise prints what failed and exits 1.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, node, artifacts, login] = process.argv.slice(2);
// A name of the attacker's that their DNS now points at the dashboard's address.
const rebound = `http://rebound.test:${new URL(base).port}`;
mkdirSync(artifacts, { recursive: true });

function check(ok, what) {
  if (!ok) {
    throw new Error(what);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--host-resolver-rules=MAP rebound.test 127.0.0.1'],
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const shot = (name) => page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });

  // Not logged in: the login page. The printed link logs in and leads on to the clean URL.
  await page.goto(`${base}/`);
  check(page.url() === `${base}/login`, `a browser without a session is sent to the login page: ${page.url()}`);
  await page.goto(`${base}${login}`);
  check(page.url() === `${base}/`, `the login link leads on to the clean URL: ${page.url()}`);

  // The cluster: the watched node, connected; then the node picker opens it.
  const row = await page.textContent(`tr[data-node="${node}"]`);
  check(row.includes('connected') && !row.includes('not connected'), `the cluster page lists ${node} connected: ${row}`);
  await shot('cluster');
  await page.fill('#picker input[name=node]', node);
  await Promise.all([page.waitForURL(`${base}/node/${node}`), page.click('#picker button')]);

  // Home: the figures are there, the live stream connects, and uptime moves.
  const count = Number(await page.textContent('[data-field=process_count]'));
  check(count > 10, `home shows the process count: ${count}`);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('live'), null, { timeout: 15000 });
  const before = await page.textContent('[data-field=uptime]');
  await page.waitForFunction((b) => document.querySelector('[data-field=uptime]').textContent !== b, before, { timeout: 15000 });
  // The charts move: each event adds a point.
  const points = () => page.getAttribute('[data-series=memory_total]', 'points');
  await page.waitForFunction(() => document.querySelector('[data-series=memory_total]').getAttribute('points').split(' ').length >= 2, null, { timeout: 15000 });
  const drawn = await points();
  await page.waitForFunction((d) => document.querySelector('[data-series=memory_total]').getAttribute('points') !== d, drawn, { timeout: 15000 });
  // Dist messages per second: the dashboard's own rpcs flow over the node's connection.
  await page.waitForFunction(() => Number(document.querySelector('[data-last=dist_msg_rate]').textContent) > 0, null, { timeout: 15000 });
  await shot('home');

  // The supervision trees: kernel's, with its children.
  await page.goto(`${base}/node/${node}/tree`);
  const tree = await page.textContent('main');
  check(tree.includes('kernel_sup') || tree.includes('kernel'), `the trees show kernel: ${tree.slice(0, 300)}`);
  check(tree.includes('global_name_server'), 'kernel_sup\'s children are listed');
  await shot('tree');

  // The OS page: the node's own OS process, filled live.
  await page.goto(`${base}/node/${node}/os`);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('live'), null, { timeout: 15000 });
  const osPid = await page.textContent('[data-field=os_pid]');
  check(/^[0-9]+$/.test(osPid), `the OS page shows the node's OS pid: ${osPid}`);
  check((await page.textContent('[data-field=os_type]')) === 'unix/linux', 'the OS page shows the OS');
  await shot('os');

  // The pipelines page: its live table (an erl node without gen_stage has no stages).
  await page.goto(`${base}/node/${node}/stages`);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('live · 0 stages'), null, { timeout: 15000 });
  await shot('stages');

  // Processes: sorted by memory, the filter finds the victim, kill makes it go.
  await page.goto(`${base}/node/${node}/processes`);
  check((await page.locator('tr[data-pid]').count()) > 10, 'the process table has rows');
  await shot('processes');
  await page.goto(`${base}/node/${node}/processes?filter=dash_victim`);
  check((await page.locator('tr[data-pid]').count()) === 1, 'the filter finds dash_victim');
  await page.click('tr[data-pid] button.kill');
  await page.waitForURL(`${base}/node/${node}/processes`);
  await page.goto(`${base}/node/${node}/processes?filter=dash_victim`);
  check((await page.locator('tr[data-pid]').count()) === 0, 'the killed process is gone');
  await shot('killed');

  // A supervisor's child, killed, comes back with another pid.
  await page.goto(`${base}/node/${node}/processes?filter=dash_worker`);
  const old = await page.getAttribute('tr[data-pid]', 'data-pid');
  await page.click('tr[data-pid] button.kill');
  await page.waitForURL(`${base}/node/${node}/processes`);
  let fresh = null;
  for (let i = 0; i < 50 && !fresh; i++) {
    await page.goto(`${base}/node/${node}/processes?filter=dash_worker`);
    const pid = await page.getAttribute('tr[data-pid]', 'data-pid').catch(() => null);
    if (pid && pid !== old) {
      fresh = pid;
    } else {
      await page.waitForTimeout(200);
    }
  }
  check(fresh, `dash_worker came back after ${old} was killed`);
  await shot('restarted');

  // Its detail page.
  await page.click('tr[data-pid] td a');
  const detail = await page.textContent('main');
  check(detail.includes('registered_name') && detail.includes('dash_worker'), `the detail page: ${detail}`);
  await shot('detail');

  // DNS rebinding: the same address under another name is refused, even with the token.
  const refused = await page.goto(`${rebound}${login}`);
  check(refused.status() === 403, `a page of another name is refused: ${refused.status()}`);
  check((await page.textContent('body')).includes('does not answer to the Host'), 'the refusal says why');
} catch (e) {
  failed = e;
}
await browser.close();
if (failed) {
  console.error(`dashboard browser test failed: ${failed.message}`);
  process.exit(1);
}
console.log('dashboard browser test passed');
