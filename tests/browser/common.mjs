// What every staff-page browser script shares: check() prints or throws,
// axe() runs axe-core on the page and fails on serious or critical
// violations, launch() starts Debian's Chromium (DR_CHROMIUM to override).
import { chromium } from 'playwright-core';
import { createRequire } from 'module';
import fs from 'fs';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export function check(ok, what) {
  if (!ok) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

export async function axe(page, name) {
  await page.addScriptTag({ content: axeSource });
  // axe's media preload waits (10 s) for players to load, which ours do
  // only when pressed (preload="none"): it checks without it
  const r = await page.evaluate(async () =>
    await window.axe.run(document, { preload: { assets: ['cssom'] } }));
  const bad = r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe on ${name}: no serious or critical violations ` +
        JSON.stringify(bad.map(v => [v.id, v.impact, v.nodes.length])));
}

export async function launch({ autoplay = false } = {}) {
  const args = ['--no-sandbox'];
  if (autoplay) args.unshift('--autoplay-policy=no-user-gesture-required');
  return await chromium.launch({
    executablePath: process.env.DR_CHROMIUM || '/usr/bin/chromium',
    args,
  });
}
