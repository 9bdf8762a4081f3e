/**
 * Fetches a job's sealed analysis from storage (untrusted side). Whatever comes back is checked by
 * a keeper enclave against the job's hashes on chain: a wrong blob is a refusal, never a risk.
 * A keeper judging a release fetches it through its OWN host (refusal quorums: each keeper's
 * view of the analysis is its own host's, not the releasing host's).
 */
export async function fetchSealedAnalysis(gatewayUrl: string, cid: string): Promise<Uint8Array | undefined> {
  try {
    const res = await fetch(`${gatewayUrl.replace(/\/+$/, '')}/ipfs/${encodeURIComponent(cid)}?format=raw`, { headers: { accept: 'application/vnd.ipld.raw' }, signal: AbortSignal.timeout(10_000) })
    return res.ok ? new Uint8Array(await res.arrayBuffer()) : undefined
  } catch {
    return undefined
  }
}
