// A video recording on the staff page in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core): its <video> fetches nothing
// while listed (a fetch of a recording is an audited play), then
// plays the browser copy (WebM: VP8 + Opus) past 2 s with picture and sound
// decoded, and seeks. Run by tests/integration/test_collect_video_browser.py
// with: node video_page.mjs BASE_URL RECEIPT SHOTS_DIR PASSPHRASE
import { check, launch } from './common.mjs';

const [base, receipt, shots, pass] = process.argv.slice(2);

const browser = await launch({ autoplay: true });
try {
  // bypassCSP: only for Playwright's waitForFunction; the page's CSP forbids eval
  const page = await browser.newPage({ bypassCSP: true });
  await page.goto(base + '/signin');
  await page.fill('#staff', 'Kim Staff');
  await page.fill('#pass', pass);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/');
  await page.goto(`${base}/?receipt=${receipt}`);
  const video = page.locator('video');
  check(await video.count() === 1, 'the receipt number finds one video with a player');
  const state = () => video.evaluate(v => ({
    t: v.currentTime, ready: v.readyState, err: v.error && v.error.message,
    w: v.videoWidth, h: v.videoHeight,
    frames: v.webkitDecodedFrameCount, sound: v.webkitAudioDecodedByteCount,
  }));
  // as staff use it: the page loads (the player fetches nothing until
  // pressed: preload="none"), then they press play
  await page.waitForTimeout(500);
  let st = await state();
  console.log('listed: ' + JSON.stringify(st));
  check(st.err === null && st.ready === 0, 'nothing of the video fetched while listed');
  const plays = async () => (await (await page.request.get(base + '/audit')).text())
    .split('</td><td>play</td>').length - 1;
  check(await plays() === 0, 'listing it logged no play');
  await video.evaluate(v => v.play());
  await page.waitForFunction(() => { const v = document.querySelector('video'); return v.error || v.currentTime > 2; }, null, { timeout: 15000 });
  st = await state();
  console.log('playing: ' + JSON.stringify(st));
  check(st.err === null && st.t > 2, 'it plays past 2 s with no media error');
  check(await plays() >= 1, 'its play is in the audit log');
  check(st.w === 320 && st.h === 240, `the picture is 320x240 (${st.w}x${st.h})`);
  check(st.frames > 20, `its frames decode (${st.frames})`);
  check(st.sound > 0, `its sound decodes (${st.sound} bytes)`);
  await page.screenshot({ path: `${shots}/video.png`, fullPage: true });
  await video.evaluate(v => { v.currentTime = 0.5; });
  await page.waitForFunction(() => { const v = document.querySelector('video'); return !v.seeking && v.currentTime >= 0.5 && v.currentTime < 2; }, null, { timeout: 10000 });
  check(true, 'seeking works');
} finally {
  await browser.close();
}
console.log('browser: OK');
