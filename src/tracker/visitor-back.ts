/**
 * Where the "my data" page may send a visitor back to (with their opt-in token or opt-out in the
 * address's fragment): a page of the site itself, its domain as its owner registered it with the
 * ingest worker, or a subdomain of it. Any other address was not made by the site: a link crafted
 * with `back=https://elsewhere/` would hand the visitor's opt-in token to that other site. On a dev
 * network a site served from this machine (localhost, 127.0.0.1, [::1]) is its own too.
 */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** Why `back` may not be used for `domain` (the site's registered domain, undefined when unknown), or undefined when it may. */
export function backAddressProblem(back: string, domain: string | undefined, dev: boolean): string | undefined {
  let url: URL
  try {
    url = new URL(back)
  } catch {
    return 'This page was not opened from a site (no back address): open it from the site\'s "your data" link.'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'The back address is not a web page: open this page from the site\'s "your data" link.'
  const host = url.hostname.toLowerCase()
  if (dev && LOOPBACK.has(host)) return undefined
  if (!domain) return 'This site is not registered with the ingest worker, so where to send you back cannot be checked: nothing was sent.'
  if (host === domain || host.endsWith(`.${domain}`)) return undefined
  return `The back address (${host}) is not on this site's domain (${domain}): the link was not made by the site, and nothing was sent to it.`
}
