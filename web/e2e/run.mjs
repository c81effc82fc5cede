// The browser end-to-end run, driven by tests/browser/test_web_e2e.py against a real `errand up`.
// Env: BASE_URL, TOKEN (single-user token, injected as a header the way a signed-in session
// would be sent; the app itself never stores it), REPO (a local git repository), ARTIFACTS.
// Prints one JSON line with what the pytest side checks against the server.
import AxeBuilder from '@axe-core/playwright'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const { BASE_URL, TOKEN, REPO, ARTIFACTS } = process.env
if (!BASE_URL || !TOKEN || !REPO || !ARTIFACTS) throw new Error('set BASE_URL, TOKEN, REPO and ARTIFACTS')
mkdirSync(ARTIFACTS, { recursive: true })

// Optional features other parts of the server add; until they are there the app asks once and
// says what is missing. Their "no route" 404s are the only failed requests allowed.
const OPTIONAL = new Set(['/api/me', '/api/me/repos'])
const problems = []
const timings = {}
const started = Date.now()
const mark = (name) => (timings[name] = Date.now() - started)

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--autoplay-policy=no-user-gesture-required',
  ],
})

async function newPage(width, height, colorScheme) {
  const context = await browser.newContext({
    viewport: { width, height },
    colorScheme,
    extraHTTPHeaders: { Authorization: `Bearer ${TOKEN}` },
  })
  const page = await context.newPage()
  const optional404 = new Set()
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    const url = msg.location()?.url ?? ''
    // the browser reports each optional-feature 404 as a console error too
    if (msg.text().includes('404') && OPTIONAL.has(new URL(url || BASE_URL).pathname)) return
    problems.push(`console error: ${msg.text()} (${url})`)
  })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('requestfailed', (req) => {
    const reason = req.failure()?.errorText ?? ''
    // a stream the page itself closes (navigation, end of task) is aborted, not failed
    if (reason === 'net::ERR_ABORTED' && req.url().includes('/events')) return
    problems.push(`request failed: ${req.method()} ${req.url()} ${reason}`)
  })
  page.on('response', (res) => {
    const path = new URL(res.url()).pathname
    if (res.status() === 404 && OPTIONAL.has(path)) {
      optional404.add(path)
      return
    }
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`)
  })
  return { context, page }
}

async function audit(page, name) {
  const results = await new AxeBuilder({ page }).analyze()
  for (const v of results.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      problems.push(`axe ${v.impact} on ${name}: ${v.id} — ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`)
    }
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
}

const { context, page } = await newPage(1280, 900, 'light')
const side = await newPage(1280, 900, 'dark')
const phone = await newPage(390, 844, 'light')

// The other pages, visited while the pipeline works on the task (the browser would idle).
async function tour() {
  const p = side.page
  await p.goto(BASE_URL + '/tasks')
  await p.getByRole('heading', { name: 'Task history' }).first().waitFor()
  await p.getByRole('searchbox', { name: 'Prompt contains' }).fill('failing add')
  await p.waitForURL(/q=failing/)
  await p.getByRole('link', { name: /Fix the failing add test/ }).waitFor()
  await audit(p, 'history (dark)')
  await shot(p, 'history')
  await p.getByRole('searchbox', { name: 'Prompt contains' }).fill('no such prompt anywhere')
  await p.getByText('No task matches these filters.').waitFor()
  await p.getByRole('link', { name: 'Settings' }).click()
  await p.getByRole('heading', { name: 'Settings' }).first().waitFor()
  await audit(p, 'settings (dark)')
  await shot(p, 'settings')
  await p.goto(BASE_URL + '/no/such/page')
  await p.getByRole('heading', { name: 'Page not found' }).waitFor()
  await phone.page.goto(BASE_URL + '/')
  await phone.page.getByRole('heading', { name: 'New task' }).waitFor()
  // keyboard only: the first Tab reaches the skip link, the form follows the navigation
  await phone.page.keyboard.press('Tab')
  const first = await phone.page.evaluate(() => document.activeElement?.textContent?.trim())
  if (first !== 'Skip to content') problems.push(`the first Tab reaches ${JSON.stringify(first)}, not the skip link`)
  const order = []
  for (let i = 0; i < 12; i++) {
    await phone.page.keyboard.press('Tab')
    order.push(await phone.page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim() || ''))
  }
  for (const id of ['repo', 'branch', 'prompt', 'model', 'gates']) {
    if (!order.includes(id)) problems.push(`the #${id} field is not reachable with Tab (reached: ${order.join(', ')})`)
  }
  const wide = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (wide > 0) problems.push(`the new-task page is ${wide}px wider than a 390px phone`)
  await audit(phone.page, 'new task at 390px')
  await shot(phone.page, 'new-task-phone')
}

try {
  // ---- new task
  await page.goto(BASE_URL + '/')
  await page.getByRole('heading', { name: 'New task' }).waitFor()
  await audit(page, 'new task')
  await shot(page, 'new-task')
  await page.getByLabel('Repository').fill(REPO)
  await page.getByLabel('What should Errand do?').fill('Fix the failing add test')
  await page.getByText('/ 100,000 characters').waitFor()
  // keyboard: the submit button is reachable and works with Enter
  await page.getByRole('button', { name: 'Start task' }).focus()
  await page.keyboard.press('Enter')
  await page.waitForURL(/\/tasks\/t_[0-9a-f]+$/)
  const taskId = page.url().split('/').pop()
  mark('created')

  // ---- the live log
  const log = page.getByRole('log', { name: 'Task log' })
  await log.getByText('cloning').waitFor({ timeout: 60_000 })
  await page.getByText('Stream live').waitFor()
  mark('log')
  const touring = tour().then(() => null, (err) => err) // awaited at the plan gate

  // ---- plan review: reword the step, add one, move it up, delete it again, approve
  await page.getByRole('heading', { name: 'Review the plan' }).waitFor({ timeout: 90_000 })
  mark('plan_review')
  const tourError = await touring
  if (tourError) throw tourError
  mark('toured')
  await audit(page, 'plan review')
  await shot(page, 'task-plan-review')
  await page.getByLabel('Title').first().fill('Fix add() in calc.py so that it adds')
  await page.getByRole('button', { name: 'Add a step' }).click()
  await page.getByLabel('Title').nth(1).fill('A step I will delete')
  await page.getByRole('button', { name: 'Move step 2 up' }).click()
  if ((await page.getByLabel('Title').first().inputValue()) !== 'A step I will delete') problems.push('moving a step up did not reorder')
  await page.getByRole('button', { name: 'Delete step 1' }).click()
  await page.getByRole('button', { name: 'Approve the edited plan' }).click()
  await page.getByRole('heading', { name: 'Plan', exact: true }).waitFor()

  // ---- diff review
  await page.getByRole('heading', { name: 'Review the diff' }).waitFor({ timeout: 120_000 })
  mark('diff_review')
  await page.getByRole('button', { name: /calc\.py/ }).first().waitFor()
  await page.locator('.shiki-token').first().waitFor({ timeout: 15_000 }) // highlighted
  await page.getByRole('radio', { name: 'Unified' }).check()
  await audit(page, 'diff review')
  await shot(page, 'task-diff-review')
  await page.getByRole('button', { name: 'Approve the diff and publish' }).click()

  // ---- the branch and the spoken summary
  const branch = page.getByTestId('branch')
  await branch.waitFor({ timeout: 120_000 })
  const branchName = (await branch.textContent()) ?? ''
  await page.getByRole('heading', { name: 'Spoken summary' }).waitFor({ timeout: 120_000 })
  await page.getByText('Stream complete').waitFor({ timeout: 30_000 })
  mark('completed')
  const audio = await page.locator('audio').evaluate(async (el) => {
    if (el.readyState < 1) await new Promise((ok, fail) => {
      el.addEventListener('loadedmetadata', ok, { once: true })
      el.addEventListener('error', () => fail(new Error('audio failed to load')), { once: true })
    })
    await el.play()
    await new Promise((ok) => setTimeout(ok, 700))
    el.pause()
    const track = el.textTracks[0]
    if (track) track.mode = 'hidden'
    await new Promise((ok) => setTimeout(ok, 300))
    return { duration: el.duration, played: el.currentTime, cues: track?.cues?.length ?? 0 }
  })
  await audit(page, 'completed task')
  await shot(page, 'task-completed')
  const ids = () => log.locator('[data-event-ids]').evaluateAll((els) => els.flatMap((e) => (e.getAttribute('data-event-ids') ?? '').split(' ').map(Number)))
  const shownIds = await ids()

  // ---- the finished task in the dark theme and on a phone, and a reload that replays the stream
  await side.page.goto(`${BASE_URL}/tasks/${taskId}`)
  await phone.page.goto(`${BASE_URL}/tasks/${taskId}`)
  await page.reload()
  await page.getByText('Stream complete').waitFor({ timeout: 30_000 })
  const reloadedIds = await ids()
  await side.page.getByText('Stream complete').waitFor({ timeout: 30_000 })
  await audit(side.page, 'completed task (dark)')
  await shot(side.page, 'task-completed-dark')
  await phone.page.getByText('Stream complete').waitFor({ timeout: 30_000 })
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  if (overflow > 0) problems.push(`the task page is ${overflow}px wider than a 390px phone`)
  await shot(phone.page, 'task-phone')
  mark('done')

  console.log(JSON.stringify({ taskId, branch: branchName, audio, shownIds, reloadedIds, problems, timings }))
} catch (err) {
  await shot(page, 'failure').catch(() => {})
  console.log(JSON.stringify({ error: String(err?.stack ?? err), problems, timings }))
  process.exitCode = 1
} finally {
  for (const c of [context, side.context, phone.context]) await c.close()
  await browser.close()
}
