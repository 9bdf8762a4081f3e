/**
 * The first problem a zod parse found, as an error text that names the field: "period: Invalid
 * enum value…" rather than the bare message (which does not say which field it is about).
 * `depth` keeps only that many path steps: where deeper steps are the sender's own keys (a sealed
 * event's props), naming them would put its plaintext in an error the host and gateway relay.
 */
export function zodIssueText(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }, depth = Infinity): string {
  const issue = error.issues[0]
  if (!issue) return 'malformed'
  const path = issue.path.slice(0, depth).map(String).join('.')
  return path ? `${path}: ${issue.message}` : issue.message
}
