// The staff page in a real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; axe-core injected). Run by
// tests/integration/test_staff_page_browser.py with: node staff_page.mjs
// BASE_URL RECEIPT LOCKED_RECEIPT LOCKED_PLAY_URL SHOTS_DIR PASSPHRASE
import { launch, axe } from './common.mjs';

const [base, receipt, lockedReceipt, lockedUrl, shots, pass] = process.argv.slice(2);

const T0 = Date.now();
function check(ok, what) {
  if (!ok) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what + ' (' + (Date.now() - T0) + ' ms)');
}

const browser = await launch({ autoplay: true });
try {
  // bypassCSP: only so that axe-core can be injected; the page's CSP forbids inline scripts
  const page = await browser.newPage({ bypassCSP: true });
  await page.goto(base + '/signin');
  await page.screenshot({ path: `${shots}/signin.png` });
  await axe(page, 'sign-in');
  // keyboard only: sign in, search, play
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.id) === 'staff', 'Tab reaches the name');
  await page.keyboard.type('Kim Staff');
  await page.keyboard.press('Tab');
  await page.keyboard.type(pass);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/');
  check((await page.content()).includes('Signed in as Kim Staff'), 'signed in by keyboard');
  await page.screenshot({ path: `${shots}/recordings.png`, fullPage: true });
  await axe(page, 'recordings');
  await page.focus('#receipt');
  await page.keyboard.type(receipt);
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.search.includes('receipt=' + receipt));
  const n = await page.locator('audio').count();
  check(n === 1, 'the receipt number finds one playable recording');
  // listing recordings is not playing them: every GET of a recording from
  // its first byte is an audited play, so the players must fetch nothing
  // until staff press play
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(300);
  const plays = async () => (await (await page.request.get(base + '/audit')).text())
    .split('</td><td>play</td>').length - 1;
  check(await plays() === 0, 'the listings fetched no recording: no play in the audit log');
  await page.screenshot({ path: `${shots}/found.png`, fullPage: true });
  // play: focus the player, start it by keyboard; it must pass 2 s
  const audio = page.locator('audio');
  await audio.focus();
  await page.keyboard.press('Space');
  // keyboard only: Space must start it (no script fallback)
  const started = await page.waitForFunction(() => { const a = document.querySelector('audio'); return a && !a.paused; }, null, { timeout: 10000 })
    .then(() => true, () => false);
  check(started, 'Space on the focused player started it');
  await page.waitForFunction(() => document.querySelector('audio').currentTime > 2, null, { timeout: 15000 });
  check(true, 'the recording plays past 2 s');
  const played = await plays();
  check(played >= 1, `the play is in the audit log (${played} entr${played === 1 ? 'y' : 'ies'})`);
  // seek back to the start and see it play on from there
  await audio.evaluate(a => { a.currentTime = 0.5; });
  await page.waitForFunction(() => { const a = document.querySelector('audio'); return !a.seeking && a.currentTime >= 0.5 && a.currentTime < 2; }, null, { timeout: 10000 });
  check(true, 'seeking works');
  // the locked one: listed, no player, its URL refused
  await page.goto(`${base}/?receipt=${lockedReceipt}`);
  check(await page.locator('audio').count() === 0 && (await page.content()).includes('Sealed'), 'a locked recording has no player');
  await page.screenshot({ path: `${shots}/locked.png`, fullPage: true });
  const resp = await page.request.get(base + lockedUrl);
  check(resp.status() === 403, 'a locked recording\'s URL is refused (' + resp.status() + ')');
  // the engagement report (this box's 2 recordings: "fewer than 5") and share copies
  await page.goto(base + '/report');
  check((await page.content()).includes('fewer than 5'), 'the report shows "fewer than 5" for a small box');
  await page.screenshot({ path: `${shots}/report.png`, fullPage: true });
  await axe(page, 'report');
  await page.emulateMedia({ media: 'print' });
  check(!(await page.locator('nav').first().isVisible()) &&
        await page.locator('form').evaluateAll(fs => fs.every(f => getComputedStyle(f).display === 'none')) &&
        await page.locator('svg').first().isVisible(),
        'printed, the report has its charts without the links and forms');
  await page.screenshot({ path: `${shots}/report-print.png`, fullPage: true });
  await page.emulateMedia({ media: 'screen' });
  await page.goto(base + '/shares');
  await page.screenshot({ path: `${shots}/shares.png`, fullPage: true });
  await axe(page, 'shares');
} finally {
  await browser.close();
}
console.log('browser: OK');
