// A resident's wishes on the staff page, in a real headless Chromium, by
// keyboard only: sign in, find the recording by receipt number, follow its
// "Resident's wishes" link, choose Withdraw, Continue, read the summary,
// Confirm; then the audit log page shows the withdrawal, newest first, with
// the staff name. axe-core on each new page (no serious or critical
// violations); screenshots. Run by tests/integration/test_staff_page_browser.py:
// node staff_page_wishes.mjs BASE_URL RECEIPT SHOTS_DIR PASSPHRASE
import { check, launch, axe } from './common.mjs';

const [base, receipt, shots, pass] = process.argv.slice(2);

// Tab until the focused element matches pred (at most n presses)
async function tabTo(page, pred, what, n = 60) {
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(pred)) { console.log('ok: Tab reaches ' + what); return; }
  }
  throw new Error('FAILED: Tab never reaches ' + what);
}

const browser = await launch();
try {
  // bypassCSP: only so that axe-core can be injected
  const page = await browser.newPage({ bypassCSP: true });
  await page.goto(base + '/signin');
  await tabTo(page, () => document.activeElement.id === 'staff', 'the name');
  await page.keyboard.type('Lee Staff');
  await page.keyboard.press('Tab');
  await page.keyboard.type(pass);
  await page.keyboard.press('Enter');
  await page.waitForURL(base + '/');
  await tabTo(page, () => document.activeElement.id === 'receipt', 'the receipt number');
  await page.keyboard.type(receipt);
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.search.includes('receipt=' + receipt));
  await tabTo(page, () => (document.activeElement.getAttribute('href') || '').startsWith('/wish?'),
              "the recording's wishes link");
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.pathname === '/wish');
  await page.screenshot({ path: `${shots}/wishes.png`, fullPage: true });
  await axe(page, 'wishes');
  await tabTo(page, () => document.activeElement.name === 'what', 'the choice of wish');
  // the first radio is Withdraw; Space selects the focused one
  await page.keyboard.press('Space');
  check(await page.evaluate(() => document.activeElement.value === 'withdraw' && document.activeElement.checked),
        'Withdraw chosen by keyboard');
  await tabTo(page, () => document.activeElement.textContent === 'Continue', 'Continue');
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.pathname === '/wish/confirm');
  const summary = await page.locator('#summary').textContent();
  check(summary.includes('Withdraw') && summary.includes(receipt) && summary.includes('Lee Staff'),
        'the confirmation names the wish, the receipt and the staff member');
  await page.screenshot({ path: `${shots}/confirm.png`, fullPage: true });
  await axe(page, 'confirm');
  await tabTo(page, () => document.activeElement.textContent === 'Confirm', 'Confirm');
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.pathname === '/wish/do');
  check((await page.locator('#result').textContent()).includes('Recorded for receipt ' + receipt),
        'the withdrawal is recorded');
  await page.screenshot({ path: `${shots}/recorded.png`, fullPage: true });
  await axe(page, 'recorded');
  await tabTo(page, () => document.activeElement.getAttribute('href') === '/audit', 'the audit log link');
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.pathname === '/audit');
  // the withdrawal's entries (change, withdraw, delete of each file) come
  // first, every one in the staff member's name
  const top = await page.locator('tbody tr').evaluateAll(
    rows => rows.slice(0, 4).map(r => r.textContent));
  check(top.every(t => t.includes('Lee Staff')) &&
        top.some(t => t.includes('withdraw') && t.includes(receipt)),
        'the audit log page shows the withdrawal first, every entry with the staff name');
  check((await page.locator('#verify').textContent()).includes('intact'), 'the audit chain verifies');
  await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });
  await axe(page, 'audit');
} finally {
  await browser.close();
}
console.log('browser wishes: OK');
