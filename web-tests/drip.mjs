// Drip end to end in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// two users sign up in two browser contexts; ana uploads a file into a folder (the progress
// bar fills) and sees "upload done" arrive live; she shares it with bob, who sees "shared
// with you" arrive live in his own browser, opens it, requests a download link, gets it live,
// and downloads bytes identical to the original through it (and streamed); both see each other
// online; ana, an admin (invited as one), makes an invite link on her account page, opens the
// node dashboard, and bob may not. Screenshots (desktop, and phone width for the pages a
// stranger sees and the account page) go to ARTIFACTS.
//
//   node web-tests/drip.mjs BASE_URL ARTIFACTS ADMIN_INVITE
//
// ADMIN_INVITE is a token from `drip admin invite --admin`: ana signs up through it (and so
// is an admin), bob through the landing page's link.
//
// Exits 0 when every check holds; otherwise prints what failed and exits 1.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const [base, artifacts, adminInvite] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });

function check(ok, what) {
  if (!ok) {
    throw new Error(what);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
let failed = null;
try {
  const context = (name) => browser.newContext({ viewport: { width: 1100, height: 800 }, acceptDownloads: true });
  const ana = await (await context('ana')).newPage();
  const bob = await (await context('bob')).newPage();
  const shot = (page, name) => page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });

  async function signUp(page, name, invite) {
    if (invite) {
      await page.goto(`${base}/signup?invite=${invite}`);
    } else {
      await page.goto(`${base}/`);
      await Promise.all([page.waitForURL(`${base}/signup`), page.click('a[href="/signup"] >> nth=0')]);
    }
    await page.fill('input[name=username]', name);
    await page.fill('input[name=email]', `${name}@example.com`);
    await page.fill('input[name=password]', `password-${name}`);
    await Promise.all([page.waitForURL(/\/files$/), page.click('#account button')]);
    check((await page.textContent('header')).includes(name), `${name} is logged in`);
  }
  await signUp(ana, 'ana', adminInvite);
  await signUp(bob, 'bob');
  await shot(ana, 'files-empty');

  // Ana's account page: "log out everywhere", and, an admin, an invite link she makes.
  await ana.goto(`${base}/account`);
  check(await ana.$('#logout-everywhere button'), 'the account page offers log out everywhere');
  await Promise.all([ana.waitForNavigation(), ana.click('#invite button')]);
  const invite = await ana.textContent('#invite-link');
  check(invite.includes('/signup?invite='), `an invite link is shown: ${invite}`);
  await shot(ana, 'account');
  // The pages a stranger sees, and ana's, at a phone's width.
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
  for (const [path, name] of [['/', 'landing'], ['/login', 'login'], ['/signup', 'signup']]) {
    await phone.goto(`${base}${path}`);
    await shot(phone, `phone-${name}`);
  }
  await ana.setViewportSize({ width: 390, height: 844 });
  await shot(ana, 'phone-account');
  await ana.goto(`${base}/files`);
  await shot(ana, 'phone-files');
  await ana.setViewportSize({ width: 1100, height: 800 });

  // Ana opens a new folder and uploads into it.
  await ana.fill('form[action="/files"] input[name=path]', '$/photos');
  await Promise.all([ana.waitForURL(/path=%24%2Fphotos/), ana.click('form[action="/files"] button')]);
  const original = randomBytes(3 * 1024 * 1024 + 17);
  await ana.setInputFiles('#upload input[type=file]', { name: 'holiday.bin', mimeType: 'application/octet-stream', buffer: original });
  await ana.click('#upload button');
  await ana.waitForSelector('#notices li[data-kind=upload_done]', { timeout: 30000 });
  const bar = await ana.$eval('#progress', (p) => [p.value, p.max]);
  check(bar[1] >= original.length && bar[0] === bar[1], `the progress bar filled: ${bar}`);
  check((await ana.textContent('#upload-status')).includes('holiday.bin'), 'the upload is reported');
  await shot(ana, 'uploaded');

  // The folder lists it; its page shares it with bob.
  await ana.reload();
  await Promise.all([ana.waitForURL(/\/files\/[0-9a-f]+$/), ana.click('#files a:has-text("holiday.bin")')]);
  await ana.fill('#share input[name=username]', 'bob');
  await Promise.all([ana.waitForNavigation(), ana.click('#share button')]);
  check((await ana.textContent('#shares')).includes('bob'), 'bob is listed as sharing it');
  await shot(ana, 'shared');

  // Bob hears of it live, opens it and downloads the same bytes.
  await bob.waitForSelector('#notices li[data-kind=shared]', { timeout: 15000 });
  const notice = await bob.textContent('#notices li[data-kind=shared]');
  check(notice.includes('ana shared holiday.bin with you'), `bob's notice: ${notice}`);
  await shot(bob, 'notified');
  await Promise.all([bob.waitForURL(/\/files\/[0-9a-f]+$/), bob.click('#notices li[data-kind=shared] a')]);
  check(!(await bob.$('#share')), 'bob cannot share what is not his');
  // The book's two-step download: bob asks, the link arrives live, the link serves the file
  // from its cache.
  await bob.click('#request button');
  await bob.waitForSelector('#notices li[data-kind=download_ready] a', { timeout: 30000 });
  check((await bob.textContent('#request-status')).startsWith('requested'), 'the request is acknowledged');
  await shot(bob, 'download-ready');
  const [download] = await Promise.all([bob.waitForEvent('download'), bob.click('#notices li[data-kind=download_ready] a')]);
  const got = readFileSync(await download.path());
  check(got.equals(original), `the cached download is the original (${got.length} of ${original.length} bytes)`);
  // And the plain streamed download.
  const [plain] = await Promise.all([bob.waitForEvent('download'), bob.click('#download')]);
  const again = readFileSync(await plain.path());
  check(again.equals(original), `the streamed download is the original (${again.length} bytes)`);
  await shot(bob, 'downloaded');

  // Both are online, each with one connection, on ana's page.
  await ana.waitForFunction(() => {
    const names = [...document.querySelectorAll('#online li')].map((li) => `${li.dataset.username}:${li.dataset.connections}`);
    return names.join(',') === 'ana:1,bob:1';
  }, null, { timeout: 15000 });
  await shot(ana, 'online');

  // The node dashboard: ana is an admin (invited as one) and sees Drip's node, its pipelines
  // live and its supervision tree; bob is refused.
  await ana.goto(`${base}/dashboard/`);
  await Promise.all([ana.waitForURL(/\/dashboard\/node\/[^/]+$/), ana.click('#nodes a >> nth=0')]);
  await ana.waitForFunction(() => (document.getElementById('status') || {}).textContent.startsWith('live'), null, { timeout: 15000 });
  await shot(ana, 'dashboard-home');
  await Promise.all([ana.waitForURL(/\/stages$/), ana.click('nav a:has-text("pipelines")')]);
  await ana.waitForSelector('tr[data-stage="upload.encryption.1"]', { timeout: 15000 });
  await ana.waitForFunction(() => (document.getElementById('status') || {}).textContent.startsWith('live'), null, { timeout: 15000 });
  await shot(ana, 'dashboard-pipelines');
  await Promise.all([ana.waitForURL(/\/tree$/), ana.click('nav a:has-text("supervision trees")')]);
  check(await ana.$('li[data-id="drip_upload_sup"]'), "Drip's tree is on the dashboard");
  await shot(ana, 'dashboard-tree');
  const forbidden = await bob.goto(`${base}/dashboard/`);
  check(forbidden.status() === 403, `bob is no admin: ${forbidden.status()}`);
  check((await bob.textContent('main')).includes("for Drip's admins"), 'bob is told why');
  await shot(bob, 'dashboard-refused');

  // A form posted without the page's CSRF token is refused.
  const refused = await bob.evaluate(async (url) => {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=forged' });
    return r.status;
  }, `${base}/logout`);
  check(refused === 403, `a forged form is refused: ${refused}`);
  console.log('drip in chromium: all checks hold');
} catch (e) {
  failed = e;
  console.log(`FAILED: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
