/**
 * The dashboard at a phone's width (390×844), light and dark, in real headless Chromium against a
 * real `w3a up` (issue 13's quality bar): every view fits the width (no horizontal scroll of the
 * page, every control inside the screen), every control has an accessible name as Chromium's
 * accessibility tree computes it (what a screen reader reads), the keyboard's tab order reaches
 * the main controls, and the dark scheme really switches the colours.
 * Needs /usr/bin/chromium (or $CHROMIUM) and a built dist/ (npm run build).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startW3aUp, w3aJson, type W3aUp } from './w3a-up-process.js'

const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium'
const PHONE = { width: 390, height: 844 }
/** Roles a user operates: each must have a name. */
const CONTROL_ROLES = new Set(['button', 'link', 'textbox', 'combobox', 'checkbox', 'radio', 'spinbutton', 'slider', 'switch', 'tab', 'menuitem', 'searchbox', 'listbox'])

const work = mkdtempSync(join(tmpdir(), 'w3a-dash-phone-'))
let up: W3aUp | undefined
let browser: Browser | undefined
let datasetId = ''

before(async () => {
  up = await startW3aUp(join(work, 'data'))
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  // A listed dataset, so the market and My data show cards (with their buttons) and not only empty lists.
  const gw = ['--gateway', up.gatewayUrl, '--data-dir', join(work, 'data')]
  datasetId = w3aJson<{ id: string }>(['dataset', 'upload', join(import.meta.dirname, '..', 'examples', 'visits.csv'), '--name', 'visits', '--privacy-unit', 'user_id', '--account', '1', ...gw]).id
  w3aJson(['dataset', 'policy', datasetId, '--dimensions', 'city,device', '--measures', 'amount:0:150', '--k', '2', '--epsilon-budget', '50', '--open-access', '--account', '1', ...gw])
  w3aJson(['market', 'list', datasetId, '--price', '2', '--summary', 'k=2; open access', '--account', '1', ...gw])
  // The owner's site, registered with the ingest worker, which keeps the goals the page adds below.
  w3aJson(['site', 'add', 'shop.example', '--account', '1', ...gw])
})
after(async () => {
  await browser?.close()
  await up?.stop()
  rmSync(work, { recursive: true, force: true })
})

/** What would make the page unusable at this width: a horizontal scroll, or controls outside the screen. */
async function fitsWidth(page: Page, where: string): Promise<void> {
  const m = await page.evaluate(() => {
    const outside = Array.from(document.querySelectorAll('button, input, select, textarea, a[href], summary'))
      .filter((el) => {
        const r = el.getBoundingClientRect()
        if (r.width === 0 && r.height === 0) return false // not rendered (inside a closed <details>)
        if (el.classList.contains('skip') && el !== document.activeElement) return false // the skip link shows when focused (checked below)
        if (el.closest('.table-wrap')) return false // tables scroll inside their own region, reachable by keyboard
        return r.left < -1 || r.right > innerWidth + 1
      })
      .map((el) => `${el.tagName.toLowerCase()} “${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 40)}”`)
    return { innerWidth, scrollWidth: document.documentElement.scrollWidth, outside }
  })
  assert.equal(m.innerWidth, PHONE.width, `${where}: the viewport is a phone's`)
  assert.ok(m.scrollWidth <= m.innerWidth, `${where}: the page scrolls sideways (${m.scrollWidth} > ${m.innerWidth})`)
  assert.deepEqual(m.outside, [], `${where}: controls outside the screen`)
}

type AxNode = { ignored: boolean; role?: { value?: string }; name?: { value?: string }; properties?: { name: string; value: { value?: unknown } }[] }

/** Every control in Chromium's accessibility tree has a name; returns how many there are. */
async function everyControlNamed(page: Page, where: string): Promise<number> {
  const cdp = await page.context().newCDPSession(page)
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as unknown as { nodes: AxNode[] }
    const controls = nodes.filter((n) => !n.ignored && CONTROL_ROLES.has(String(n.role?.value ?? '')))
    const hidden = (n: AxNode) => n.properties?.some((p) => p.name === 'hidden' && p.value.value === true)
    const unnamed = controls.filter((n) => !hidden(n) && !String(n.name?.value ?? '').trim()).map((n) => String(n.role?.value))
    assert.deepEqual(unnamed, [], `${where}: controls without an accessible name`)
    return controls.length
  } finally {
    await cdp.detach()
  }
}

/** Tabs from the top of the page (the skip link, its first stop); what got focus, each as `tag:name`. */
async function tabOrder(page: Page, presses: number): Promise<string[]> {
  await page.getByRole('link', { name: 'Skip to content' }).focus()
  const seen: string[] = []
  for (let i = 0; i <= presses; i++) {
    if (i > 0) await page.keyboard.press('Tab')
    seen.push(
      await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null
        if (!el || el === document.body) return 'body'
        const label = el.getAttribute('aria-label') ?? ((el as HTMLInputElement).labels?.[0]?.textContent ?? el.textContent ?? '').trim()
        return `${el.tagName.toLowerCase()}:${label.replace(/\s+/g, ' ').slice(0, 40)}`
      }),
    )
  }
  return seen
}

async function nav(page: Page, view: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: view, exact: true }).click()
  await page.getByRole('heading', { level: 1, name: view, exact: true }).waitFor({ timeout: 60_000 })
}

/** Relative luminance (0 black … 1 white) of a CSS rgb() colour. */
function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((c) => Number(c) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!
}

for (const scheme of ['light', 'dark'] as const) {
  test(`at 390×844 (${scheme}) every view fits the width, every control is named, and the keyboard reaches the main controls`, { timeout: 600_000 }, async () => {
    const ctx = await browser!.newContext({ viewport: PHONE, colorScheme: scheme, isMobile: true, hasTouch: true })
    const page = await ctx.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    try {
      await page.goto(up!.dashboardUrl)
      await page.locator(`li[data-dataset="${datasetId}"]`).waitFor({ timeout: 60_000 })

      // Light or dark as the system asks, with readable text on the background.
      const colours = await page.evaluate(() => ({ bg: getComputedStyle(document.body).backgroundColor, fg: getComputedStyle(document.body).color }))
      const [bg, fg] = [luminance(colours.bg), luminance(colours.fg)]
      if (scheme === 'dark') assert.ok(bg < 0.05 && fg > 0.6, `dark: background ${colours.bg}, text ${colours.fg}`)
      else assert.ok(bg > 0.85 && fg < 0.05, `light: background ${colours.bg}, text ${colours.fg}`)
      assert.ok((Math.max(bg, fg) + 0.05) / (Math.min(bg, fg) + 0.05) >= 7, `${scheme}: text contrast at least 7:1 (WCAG AAA)`)

      // Read only, first visit: the skip link, the views, the account picker, then the market, by keyboard.
      await fitsWidth(page, 'market (read only)')
      assert.ok((await everyControlNamed(page, 'market (read only)')) > 5)
      await page.keyboard.press('Tab')
      assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Skip to content', 'the first Tab stop is the skip link')
      const first = await tabOrder(page, 7)
      for (const v of ['Market', 'My data', 'Network', 'Sites']) assert.ok(first.includes(`a:${v}`), `the tab order reaches the ${v} link: ${first.join(' | ')}`)
      assert.ok(first.some((s) => s.startsWith('select:Account')), `the tab order reaches the account picker: ${first.join(' | ')}`)
      // The skip link is visible when focused and moves focus into the main content.
      await page.getByRole('link', { name: 'Skip to content' }).focus()
      const skip = await page.evaluate(() => document.activeElement!.getBoundingClientRect().left)
      assert.ok(skip >= 0 && skip < PHONE.width, 'the focused skip link is on screen')
      await page.keyboard.press('Enter')
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main')
      assert.equal(await page.evaluate(() => location.hash), '', 'the skip link leaves the route (the hash) alone')

      // With an account: the market's query editor (schema beside the SQL on a wide screen, under it here).
      await page.getByLabel('Account').selectOption('dev:2')
      await page.getByTestId('balance').waitFor({ timeout: 60_000 })
      const card = page.locator(`li[data-dataset="${datasetId}"]`)
      await card.getByRole('button', { name: 'Query' }).click()
      await page.getByLabel(/SQL over the table/).waitFor()
      await fitsWidth(page, 'market, query editor')
      await everyControlNamed(page, 'market, query editor')
      const sqlBox = await page.getByLabel(/SQL over the table/).boundingBox()
      assert.ok(sqlBox && sqlBox.width > PHONE.width * 0.6, 'the SQL editor takes the width of the screen')

      await nav(page, 'Network')
      await page.getByRole('region', { name: 'Workers' }).waitFor({ timeout: 60_000 })
      await fitsWidth(page, 'network')
      await everyControlNamed(page, 'network')

      // The owner's view, with the upload form filled from a file (one row of controls per column).
      await page.getByLabel('Account').selectOption('dev:1')
      await page.getByTestId('balance').waitFor({ timeout: 60_000 })
      await nav(page, 'My data')
      const mine = page.locator(`li[data-dataset="${datasetId}"]`)
      await mine.getByRole('button', { name: /Show policy, grants and budget/ }).click()
      await mine.getByTestId('access').waitFor({ timeout: 60_000 })
      await page.getByTestId('upload').getByLabel('CSV or Parquet file').setInputFiles(join(import.meta.dirname, '..', 'examples', 'visits.csv'))
      await page.getByTestId('upload-summary').waitFor()
      await fitsWidth(page, 'my data, with the upload form filled')
      await everyControlNamed(page, 'my data, with the upload form filled')

      // Sites: add a site by keyboard alone, then its stats.
      await nav(page, 'Sites')
      await page.getByLabel('Domain').focus()
      await page.keyboard.type('shop.example')
      await page.keyboard.press('Tab')
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Add site', 'Tab from the domain goes to its button')
      await page.keyboard.press('Enter')
      await page.getByTestId('site-privacy').waitFor({ timeout: 60_000 })
      await fitsWidth(page, 'sites, realtime stats')
      await everyControlNamed(page, 'sites, realtime stats')
      const sites = await tabOrder(page, 40)
      for (const want of ['a:Sites', 'input:Domain', 'button:Add site', 'button:shop.example', 'select:Period']) assert.ok(sites.some((s) => s.startsWith(want)), `the tab order reaches ${want}: ${sites.join(' | ')}`)
      // Goals by keyboard (two of them bring the funnel form), then the three panels at this width.
      // (The site keeps its goals across both runs: each run adds its own.)
      const goals = page.getByRole('region', { name: 'Goals' })
      for (const goal of [`Signup ${scheme}`, `Trial ${scheme}`]) {
        await goals.getByLabel('Event name').focus()
        await page.keyboard.type(goal)
        await page.keyboard.press('Tab')
        assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Add goal', 'Tab from the event name goes to its button')
        await page.keyboard.press('Enter')
        // Saved (a signed write the site's ingest worker keeps) before the next one.
        await goals.getByRole('listitem').filter({ hasText: goal }).waitFor({ timeout: 60_000 })
      }
      assert.equal(await goals.getByRole('alert').count(), 0)
      await page.getByRole('region', { name: 'Funnels' }).getByLabel('Step 2').waitFor()
      await fitsWidth(page, 'sites, goals, funnels and custom properties')
      await everyControlNamed(page, 'sites, goals, funnels and custom properties')
      assert.deepEqual(errors, [])
    } finally {
      await ctx.close()
    }
  })
}
