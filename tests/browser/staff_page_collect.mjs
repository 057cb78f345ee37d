// Collecting a staff stick from the staff page, in a real headless Chromium:
// sign in, follow "collect it" from the recordings page, type the
// passphrase, Collect it; the progress bars move (their values are sampled
// while it runs) and the page ends on the summary; axe-core on the
// progress and summary pages; screenshots. Run by
// tests/integration/test_staff_page_browser.py with: node
// staff_page_collect.mjs BASE_URL STICK_LABEL SHOTS_DIR PASSPHRASE
import { check, launch, axe } from './common.mjs';

const [base, label, shots, pass] = process.argv.slice(2);

const browser = await launch();
try {
  // the page under its own Content-Security-Policy (its script must run
  // under it); a second context with bypassCSP only to inject axe-core
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const axeCtx = await browser.newContext({ bypassCSP: true });
  const axePage = await axeCtx.newPage();
  const cspErrors = [];
  page.on('console', m => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  await page.goto(base + '/signin');
  await page.fill('#staff', 'Ash Staff');
  await page.fill('input[name="pass"]', pass);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/');
  const notice = await page.locator('#stick').textContent();
  check(notice.includes(label), 'the recordings page says the stick is plugged in');
  await page.locator('#stick a').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/collect');
  await axeCtx.addCookies(await ctx.cookies());
  await page.screenshot({ path: `${shots}/collect.png`, fullPage: true });
  await axePage.goto(base + '/collect');
  await axe(axePage, 'collect');
  await page.fill('#pass0', pass);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/collect');
  // sample the bars while it runs: the page's script moves them, and
  // reloads the page onto the summary when it ends
  const seen = [];
  let shot = false;
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    const v = await page.evaluate(() => {
      const f = document.getElementById('files'), b = document.getElementById('bytes');
      if (document.getElementById('summary')) return { end: true };
      return f && b ? { files: f.value, filesMax: f.max, bytes: b.value, bytesMax: b.max } : null;
    }).catch(() => null); // the page is reloading
    if (v && v.end) break;
    if (v && (!seen.length || seen[seen.length - 1].bytes !== v.bytes ||
              seen[seen.length - 1].files !== v.files)) {
      seen.push(v);
      if (!shot && v.bytes > 0 && v.bytes < v.bytesMax) {
        await page.screenshot({ path: `${shots}/collect-progress.png`, fullPage: true });
        await axePage.goto(base + '/collect');
        if (await axePage.locator('#files').count()) await axe(axePage, 'collect progress');
        shot = true;
      }
    }
    await page.waitForTimeout(40);
  }
  console.log('bars seen: ' + JSON.stringify(seen));
  check(seen.some(v => v.bytes > 0 && v.bytes < v.bytesMax),
        'the bytes bar moved: a value between empty and full was seen');
  await page.waitForSelector('#summary', { timeout: 10000 });
  const summary = (await page.locator('#summary').textContent()).replace(/\s+/g, ' ');
  check(summary.includes('2 new recordings') && summary.includes('1 locked recording') &&
        summary.includes('withdrawals sent to the box'), 'the summary: ' + summary);
  check(cspErrors.length === 0, 'the page\'s script ran under its CSP ' + JSON.stringify(cspErrors));
  await page.screenshot({ path: `${shots}/collected.png`, fullPage: true });
  await axePage.goto(base + '/collect');
  await axe(axePage, 'collect summary');
} finally {
  await browser.close();
}
console.log('browser collect: OK');
