// The staff page's text readable at 200 % zoom, in a real headless
// Chromium: a 1280-pixel-wide window at 200 % is a 640-CSS-pixel viewport
// at device scale 2. On each main page (sign-in, recordings, a wish's
// confirmation, audit log, report, shares, collect) the page must not
// scroll sideways, no element may cut its text off (overflow hidden or
// clip with more inside than shown), and no text may lie outside the
// viewport. Nor may any page fetch anything but from the server itself
// (no CDN). Screenshots zoom-*.png. Run by
// tests/integration/test_staff_page_browser.py with: node
// staff_page_zoom.mjs BASE_URL RECEIPT SHOTS_DIR PASSPHRASE
import { check, launch } from './common.mjs';

const [base, receipt, shots, pass] = process.argv.slice(2);

// what a reader at 200 % would miss: [] when nothing
function unreadable() {
  const out = [];
  const se = document.scrollingElement;
  if (se.scrollWidth > se.clientWidth + 1)
    out.push(`the page scrolls sideways: ${se.scrollWidth} > ${se.clientWidth}`);
  const vw = document.documentElement.clientWidth;
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (e.className && typeof e.className === 'string' ? '.' + e.className : '');
  for (const e of document.body.querySelectorAll('*')) {
    const cs = getComputedStyle(e);
    if (cs.display === 'none' || cs.visibility === 'hidden') continue;
    const clips = v => v === 'hidden' || v === 'clip';
    if ((clips(cs.overflowX) && e.scrollWidth > e.clientWidth + 1) ||
        (clips(cs.overflowY) && e.scrollHeight > e.clientHeight + 1))
      out.push(`${name(e)} cuts off its content`);
    // text of its own (not only its children's) within the viewport
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (own) {
      const r = document.createRange();
      for (const n of e.childNodes) {
        if (n.nodeType !== 3 || !n.textContent.trim()) continue;
        r.selectNodeContents(n);
        for (const b of r.getClientRects())
          if (b.width && (b.right > vw + 1 || b.left < -1))
            out.push(`text of ${name(e)} outside the page: "${n.textContent.trim().slice(0, 40)}" ` +
                     `${Math.round(b.left)}..${Math.round(b.right)} of ${vw}`);
      }
    }
  }
  return out;
}

const browser = await launch();
const problems = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 640, height: 720 }, deviceScaleFactor: 2 });
  const page = await ctx.newPage();
  // shipped with the project: nothing is fetched from anywhere else (no CDN)
  const elsewhere = [];
  page.on('request', q => { if (!q.url().startsWith(base + '/')) elsewhere.push(q.url()); });
  async function readable(name) {
    const bad = await page.evaluate(unreadable);
    await page.screenshot({ path: `${shots}/zoom-${name}.png`, fullPage: true });
    console.log(`${name} at 200 %: ` + (bad.length ? JSON.stringify(bad) : 'readable'));
    problems.push(...bad.map(b => `${name}: ${b}`));
  }
  await page.goto(base + '/signin');
  check(await page.evaluate(() => window.innerWidth) === 640, 'the viewport is 640 CSS pixels');
  await readable('signin');
  await page.fill('#staff', 'Zoe Staff');
  await page.fill('input[name="pass"]', pass);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/');
  await readable('recordings');
  await page.goto(base + '/?receipt=' + receipt);
  await readable('recordings-found');
  await page.locator('a[href^="/wish?"]').first().click();
  await page.waitForURL(u => u.pathname === '/wish');
  await readable('wish');
  await page.locator('input[name="what"]').first().check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(u => u.pathname === '/wish/confirm');
  await readable('wish-confirm');
  for (const [name, url] of [['audit', '/audit'], ['report', '/report'], ['shares', '/shares'],
                             ['collect', '/collect']]) {
    await page.goto(base + url);
    await readable(name);
  }
  check(elsewhere.length === 0, 'nothing fetched from elsewhere ' + JSON.stringify(elsewhere));
} finally {
  await browser.close();
}
check(problems.length === 0, 'every page readable at 200 % ' + JSON.stringify(problems));
console.log('zoom: OK');
