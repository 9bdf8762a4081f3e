/** Upload: not in the page yet (see docs/dashboard.md); says how to do it meanwhile. */
export function UploadForm() {
  return (
    <div class="box">
      <strong>Add a dataset</strong>
      <p class="muted">
        Upload from this machine with <code>npx w3a dataset upload FILE.csv --name NAME --privacy-unit COLUMN --account N</code>: the CLI encrypts it before it leaves. It then appears here, unlisted.
      </p>
    </div>
  )
}
