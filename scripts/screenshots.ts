/**
 * `npm run screenshots`: writes docs/screenshots/*.png, one per dashboard view, from a real
 * `w3a up` in a temp dir and Debian's headless Chromium (or $CHROMIUM). The example dataset is
 * uploaded with the CLI, listed and queried in the page, so every view shows real data; the upload
 * form is shown with the same file picked in the page.
 * Needs a built dist/ (npm run build).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { startW3aUp, w3aJson } from '../test/w3a-up-process.js'

const ROOT = join(import.meta.dirname, '..')
const OUT = join(ROOT, 'docs', 'screenshots')
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium'

const work = mkdtempSync(join(tmpdir(), 'w3a-shots-'))
const up = await startW3aUp(join(work, 'data'))
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
try {
  mkdirSync(OUT, { recursive: true })
  const gw = ['--gateway', up.gatewayUrl, '--data-dir', join(work, 'data')]
  const { id } = w3aJson<{ id: string }>(['dataset', 'upload', join(ROOT, 'examples', 'visits.csv'), '--name', 'visits', '--privacy-unit', 'user_id', '--account', '1', ...gw])
  w3aJson(['dataset', 'policy', id, '--dimensions', 'city,device', '--measures', 'amount:0:150', '--k', '2', '--epsilon-budget', '50', '--analyst-epsilon-budget', '20', '--open-access', '--account', '1', ...gw])
  w3aJson(['market', 'list', id, '--price', '2', '--summary', 'k=2; ε budget 50, 20 per analyst; dimensions city, device; measure amount; open access', '--account', '1', ...gw])
  // The owner's site, registered with the ingest worker (which keeps the goals the page adds).
  w3aJson(['site', 'add', 'shop.example', '--account', '1', ...gw])

  const shot = async (page: Page, name: string) => {
    await page.waitForLoadState('networkidle')
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true })
    console.log(`screenshots: docs/screenshots/${name}.png`)
  }
  const open = async (opts: { width?: number; dark?: boolean } = {}) => {
    const ctx = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: 860 }, colorScheme: opts.dark ? 'dark' : 'light' })
    const page = await ctx.newPage()
    await page.goto(up.dashboardUrl)
    return page
  }
  const nav = (page: Page, view: string) => page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: view }).click()

  // Market, as analyst (dev account 2): buy, query, verified result.
  const page = await open()
  await page.getByLabel('Account').selectOption('dev:2')
  const card = page.locator(`li[data-dataset="${id}"]`)
  await card.getByTestId('credits').filter({ hasText: /^0 credit/ }).waitFor()
  await card.getByRole('button', { name: 'Buy credits' }).click()
  await card.getByTestId('credits').filter({ hasText: /^1 credit/ }).waitFor({ timeout: 60_000 })
  await card.getByRole('button', { name: 'Query' }).click()
  await page.getByText('privacy unit').waitFor()
  await page.getByLabel(/SQL over the table/).fill('SELECT device, count(*) AS visits, avg(amount) AS avg_amount FROM data GROUP BY device ORDER BY device')
  await page.getByLabel(/^ε/).fill('2')
  await page.getByRole('button', { name: 'Run query' }).click()
  await page.getByTestId('result').waitFor({ timeout: 120_000 })
  await page.locator('.chart canvas').waitFor().catch(() => undefined)
  await shot(page, 'market')

  await nav(page, 'Network')
  await page.getByRole('region', { name: 'Workers' }).waitFor({ timeout: 60_000 })
  await shot(page, 'network')

  // My data, as owner (dev account 1).
  await page.getByLabel('Account').selectOption('dev:1')
  await nav(page, 'My data')
  const mine = page.locator(`li[data-dataset="${id}"]`)
  await mine.getByRole('button', { name: /Show policy, grants and budget/ }).click()
  await mine.getByTestId('access').waitFor({ timeout: 60_000 })
  await shot(page, 'my-data')
  // The upload form with the example picked: schema, privacy unit, classes and bounds as the page suggests them.
  await page.getByTestId('upload').getByLabel('CSV or Parquet file').setInputFiles(join(ROOT, 'examples', 'visits.csv'))
  await page.getByTestId('upload-summary').waitFor()
  await page.getByTestId('upload').screenshot({ path: join(OUT, 'upload.png') })
  console.log('screenshots: docs/screenshots/upload.png')

  await nav(page, 'Sites')
  await page.getByLabel('Domain').fill('shop.example')
  await page.getByRole('button', { name: 'Add site' }).click()
  await page.getByTestId('site-privacy').waitFor({ timeout: 60_000 })
  // Two goals and a funnel of them, defined in the page (their figures need events and a job period).
  const goals = page.getByRole('region', { name: 'Goals' })
  for (const [kind, value] of [['Page visit', '/pricing'], ['Custom event', 'Signup']] as const) {
    await goals.getByLabel('Goal type').selectOption({ label: kind })
    await goals.getByLabel(kind === 'Page visit' ? 'Page path' : 'Event name').fill(value)
    await goals.getByRole('button', { name: 'Add goal' }).click()
    await goals.getByRole('listitem').filter({ hasText: kind === 'Page visit' ? `Visit ${value}` : value }).waitFor({ timeout: 60_000 })
  }
  const funnels = page.getByRole('region', { name: 'Funnels' })
  await funnels.getByLabel('Funnel name').fill('Signup flow')
  await funnels.getByLabel('Step 1').selectOption('Visit /pricing')
  await funnels.getByLabel('Step 2').selectOption('Signup')
  await funnels.getByRole('button', { name: 'Add funnel' }).click()
  await funnels.getByText('Signup flow: Visit /pricing → Signup').waitFor()
  await shot(page, 'sites')

  // Phone width, dark.
  const phone = await open({ width: 390, dark: true })
  await phone.locator(`li[data-dataset="${id}"]`).waitFor()
  await shot(phone, 'market-phone-dark')
} finally {
  await browser.close()
  await up.stop()
  rmSync(work, { recursive: true, force: true })
}
