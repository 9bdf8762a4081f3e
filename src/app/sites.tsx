/** Sites (the site owner): in the next version; says what to use meanwhile. */
export function SitesView() {
  return (
    <section aria-labelledby="sites-h">
      <h1 id="sites-h">Sites</h1>
      <p class="lead">Web analytics computed inside TEEs: see docs/site-owner.md for the tracker snippet and `w3a site stats`.</p>
    </section>
  )
}
