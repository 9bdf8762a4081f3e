/**
 * The visitor's "my data" page (docs/visitor.md), served by the gateway at
 * /my-data?site=SITE_ID&back=SITE_URL: static HTML; everything happens in dist/js/my-data.js
 * (src/tracker/my-data.ts) in the visitor's browser. The gateway only serves these bytes and
 * relays the visitor's signed requests; it holds no key of theirs.
 */
export const MY_DATA_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Your data on this site (W3A)</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}button{margin:.25rem .5rem .25rem 0;padding:.4rem .8rem}
#status.ok{color:#06612a}#status.error{color:#a00}table{border-collapse:collapse;margin:1rem 0}td{border:1px solid #ccc;padding:.2rem .4rem;font-size:.9rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}</style>
</head><body>
<h1>Your data on this site</h1>
<p>Site <code id="site"></code>, back to <code id="back"></code>. Its analytics are encrypted in your browser and counted inside an attested
enclave; the site sees only totals of at least ten visitors. Here you choose how you are counted, and see or delete what is held about you.</p>
<h2>How you are counted</h2>
<p><button id="optin">Opt in: recognise me, so I can see and delete my data</button> makes a key in this browser; your events then carry a
pseudonymous id the enclave derives from it (you count as one visitor across days).</p>
<p><button id="optout">Opt out: send nothing from this browser</button></p>
<h2>Your data (opted-in visitors)</h2>
<p><button id="show">See my data</button><button id="download" disabled>Download (JSON)</button><button id="delete">Delete my data</button></p>
<p id="status" role="status"></p>
<p id="segments" role="status"></p>
<table id="rows"></table>
<h3>Receipt</h3>
<pre id="receipt"></pre>
<pre id="segments-receipt"></pre>
<script src="/js/my-data.js"></script>
</body></html>
`
