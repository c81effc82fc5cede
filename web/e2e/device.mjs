// The browser side of `errand login` (tests/browser/test_cli_login_browser.py): a person opens
// the page the CLI opened for them, is not signed in yet, signs in with the one-time login
// link, lands back on the page, checks the code and the machine, and approves.
// Env: DEVICE_URL (what the CLI opened), LOGIN_LINK (`errand up`'s one-time link), ARTIFACTS.
// Prints one JSON line: the code and host the page showed, and any problem seen.
import AxeBuilder from '@axe-core/playwright'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const { DEVICE_URL, LOGIN_LINK, ARTIFACTS } = process.env
if (!DEVICE_URL || !LOGIN_LINK || !ARTIFACTS) throw new Error('set DEVICE_URL, LOGIN_LINK and ARTIFACTS')
mkdirSync(ARTIFACTS, { recursive: true })

const problems = []
let signedIn = false
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
})
const context = await browser.newContext({ viewport: { width: 1024, height: 768 } })
const page = await context.newPage()
page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
page.on('console', (msg) => {
  // before the sign-in, /api/me answers 401 and the browser logs it
  if (msg.type() === 'error' && !(msg.text().includes('401') && !signedIn)) problems.push(`console error: ${msg.text()}`)
})
page.on('response', (res) => {
  if (res.status() >= 400 && !(res.status() === 401 && !signedIn)) {
    problems.push(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`)
  }
})

async function audit(name) {
  const results = await new AxeBuilder({ page }).analyze()
  for (const v of results.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') problems.push(`axe ${v.impact} on ${name}: ${v.id} — ${v.help}`)
  }
}

const result = { problems }
try {
  await page.goto(DEVICE_URL)
  await page.getByText('Sign in to this Errand server first').waitFor()
  await page.screenshot({ path: join(ARTIFACTS, 'cli-login-signed-out.png'), fullPage: true })
  signedIn = true
  await page.goto(LOGIN_LINK) // → / with the session cookie → back to the approval page
  await page.waitForURL((url) => url.pathname === '/device')
  result.resumedAt = page.url()
  const code = page.getByTestId('user-code')
  await code.waitFor()
  result.code = (await code.textContent())?.trim()
  result.host = (await page.getByTestId('host').textContent())?.trim()
  await audit('cli login')
  await page.screenshot({ path: join(ARTIFACTS, 'cli-login.png'), fullPage: true })
  await page.getByRole('button', { name: 'Approve' }).click()
  await page.getByText(/^Approved: the CLI on/).waitFor()
  result.approved = (await page.getByText(/^Approved: the CLI on/).textContent())?.trim()
  await page.screenshot({ path: join(ARTIFACTS, 'cli-login-approved.png'), fullPage: true })
} catch (err) {
  result.error = String(err?.stack ?? err)
} finally {
  await browser.close()
}
console.log(JSON.stringify(result))
