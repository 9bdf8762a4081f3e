/** The OpenAPI 3.1 description of the gateway, served at /api/v1/openapi.json. */
const errorRef = { $ref: '#/components/schemas/Error' }
const errorResponses = {
  '4XX': { description: 'Bad request (413 BODY_TOO_LARGE: a body over the endpoint\'s limit, refused while reading; the connection is closed)', content: { 'application/json': { schema: errorRef } } },
  '5XX': { description: 'Gateway or chain failure', content: { 'application/json': { schema: errorRef } } },
}
const datasetIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^0x[0-9a-fA-F]{64}$' },
  description: 'bytes32 dataset id',
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'W3A gateway',
    version: '1',
    description:
      'HTTP API of a W3A gateway. It relays ciphertext and public data only: uploads are CAR files of encrypted blocks, ' +
      'and the /ipfs routes are the IPFS trustless gateway (verifiable raw blocks and CARs).',
  },
  paths: {
    '/api/v1/network': {
      get: {
        summary: 'Network description: chain id, RPC URL, contract addresses. Clients do not take it on trust: they compare it with their pinned network and check the contracts\' code on chain (NETWORK_MISMATCH)',
        responses: { 200: { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Network' } } } }, ...errorResponses },
      },
    },
    '/api/v1/status': {
      get: { summary: 'What is running: chain head, contracts, storage', responses: { 200: { description: 'ok' }, ...errorResponses } },
    },
    '/api/v1/datasets': {
      get: {
        summary: 'Datasets registered on chain (public metadata)',
        parameters: [{ name: 'owner', in: 'query', required: false, schema: { type: 'string' } }],
        responses: { 200: { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { datasets: { type: 'array', items: { $ref: '#/components/schemas/Dataset' } } } } } } }, ...errorResponses },
      },
    },
    '/api/v1/datasets/{id}': {
      get: {
        summary: 'One dataset: on-chain record plus the public part of its manifest',
        parameters: [datasetIdParam],
        responses: { 200: { description: 'ok' }, ...errorResponses },
      },
    },
    '/api/v1/datasets/{id}/drop': {
      post: {
        summary:
          'Drop the blocks of a deleted dataset (manifest and segments) from this storage node. Anyone may ask: the node ' +
          'checks that the registry shows the dataset deleted, and keeps blocks linked by a dataset not deleted. Idempotent.',
        parameters: [datasetIdParam],
        responses: {
          200: {
            description: 'dropped',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { datasetId: { type: 'string' }, manifestCid: { type: 'string' }, blocks: { type: 'integer' }, bytes: { type: 'integer' }, kept: { type: 'integer' }, missing: { type: 'integer' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    '/api/v1/datasets/{id}/unpin': {
      post: {
        summary:
          'Unpin old versions of a dataset (a site rewritten after a visitor deletion): body { roots: [CID] }, signed by the ' +
          "dataset's owner or its writer on chain (headers x-w3a-unpin-expires, x-w3a-unpin-signature: EIP-191 over " +
          "keccak256(abi.encodePacked('w3a-unpin-v1', id, keccak256(roots joined by newline), chainId, expires))). Blocks a live dataset's current manifest links stay. Idempotent.",
        parameters: [datasetIdParam],
        responses: { 200: { description: 'unpinned: { datasetId, blocks, bytes, kept, missing }' }, ...errorResponses },
      },
    },
    '/api/v1/blocks/unpin': {
      post: {
        summary:
          'Unpin roots the signer uploaded itself (a deleted pool contribution): body { roots: [CID] }, signed by the account that signed their uploads ' +
          "(headers x-w3a-unpin-expires, x-w3a-unpin-signature: EIP-191 over keccak256(abi.encodePacked('w3a-unpin-own-v1', keccak256(roots joined by newline), chainId, expires, nonce)), x-w3a-unpin-nonce: 32 random bytes, 0x hex; each signature accepted once). " +
          "Refused whole (403 ACCESS_DENIED) when a root held here was not uploaded by the signer. Blocks a live dataset's current manifest links, or another upload's DAG holds, stay. A root already gone counts as missing.",
        responses: { 200: { description: 'unpinned: { account, roots, blocks, bytes, kept, missing }' }, ...errorResponses },
      },
    },
    '/api/v1/blocks': {
      post: {
        summary:
          "Store encrypted blocks: a CARv1 body signed by an account (EIP-191 over keccak256(abi.encodePacked('w3a-upload-v1', root, bytes, chainId, expires)), src/storage/upload-authorization.ts). The signer must hold funds on chain and is charged the bytes against its quota (429 UPLOAD_QUOTA_EXCEEDED). Every block is checked against its CID, the root must be the signed one and the DAG complete, else nothing is stored (422 UPLOAD_NOT_STORED); a body longer than signed is cut off (413 BODY_TOO_LARGE)",
        parameters: [
          { name: 'x-w3a-upload-root', in: 'header', required: true, schema: { type: 'string' }, description: "the CAR's only root CID" },
          { name: 'x-w3a-upload-bytes', in: 'header', required: true, schema: { type: 'integer' }, description: 'exact length of the body in bytes' },
          { name: 'x-w3a-upload-expires', in: 'header', required: true, schema: { type: 'integer' }, description: 'unix seconds, at most 1 h ahead' },
          { name: 'x-w3a-upload-signature', in: 'header', required: true, schema: { type: 'string' }, description: '65-byte EIP-191 signature, 0x hex; each is accepted once (401 UPLOAD_UNAUTHORIZED otherwise)' },
        ],
        requestBody: { required: true, content: { 'application/vnd.ipld.car': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          200: { description: 'stored', content: { 'application/json': { schema: { type: 'object', properties: { roots: { type: 'array', items: { type: 'string' } }, blocks: { type: 'integer' }, bytes: { type: 'integer' } } } } } },
          ...errorResponses,
        },
      },
    },
    '/js/w3a.js': {
      get: { summary: 'The web-analytics tracker (docs/site-owner.md)', responses: { 200: { description: 'application/javascript' } } },
    },
    '/api/event': {
      post: {
        summary: 'A sealed web-analytics event (docs/formats.md, "Web analytics event envelope"), relayed to the ingest worker; 200 once durable, 429 with Retry-After under load',
        requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } } } },
        responses: { 200: { description: '{ accepted, reason? }' }, ...errorResponses },
      },
    },
    '/api/v1/ingest': {
      get: { summary: "The ingest worker's attested info: address, hpkePublicKey (the sites' ingest key), measurement, quote", responses: { 200: { description: 'ingest worker info' }, ...errorResponses } },
    },
    '/api/v1/visitor': {
      post: { summary: "A visitor's signed export or delete request (docs/visitor.md), answered by the ingest enclave with a receipt its attested key signs (an export sealed to the visitor's box key)", responses: { 200: { description: '{ receipt, signature, box? }' }, ...errorResponses } },
    },
    '/my-data': {
      get: { summary: 'The visitor\'s "my data" page (?site=SITE_ID&back=SITE_URL): opt in, opt out, see, download, delete (docs/visitor.md)', responses: { 200: { description: 'HTML page' } } },
    },
    '/api/v1/sites': {
      post: {
        summary: "Register a site with the ingest worker: the owner's signed registration with the site key HPKE-sealed to the worker's attested key (docs/site-owner.md, \"Registering a site\"); `w3a site add` sends it",
        responses: { 200: { description: '{ site, manifestCid, writer }' }, ...errorResponses },
      },
    },
    '/api/v1/ingest/status': {
      get: { summary: 'Public figures of the ingest worker: registered sites (id and domain), their current manifest, segments and waiting rows, events refused for unregistered sites', responses: { 200: { description: '{ address, sites, unknownSiteRefusals }' }, ...errorResponses } },
    },
    '/api/v1/sites/settings': {
      post: { summary: "Set a site's goals and funnels: the owner-signed whole value (HPKE-sealed to the ingest worker) and its next version (docs/site-owner.md, \"Goals and funnels\"; docs/formats.md), kept in the ingest enclave's sealed site book; an older or replayed version is refused (SITE_SETTINGS_OUTDATED)", responses: { 200: { description: '{ site, ingest, version, updatedAt, request, settingsHash, sealed, signature }: signed by the ingest worker, the settings sealed to the request\'s box key' }, ...errorResponses } },
    },
    '/api/v1/sites/settings/read': {
      post: { summary: "Read a site's goals and funnels: an owner-signed read naming a box key, answered signed by the ingest worker with the settings sealed to that key", responses: { 200: { description: '{ site, ingest, version, updatedAt, request, settingsHash, sealed, signature }' }, ...errorResponses } },
    },
    '/api/v1/sites/stats': {
      post: { summary: "Owner-signed realtime site stats (periods 5m, 1h), k-thresholded by the ingest enclave and sealed to the request's box key; longer periods are W3A jobs over the site dataset (docs/site-owner.md)", responses: { 200: { description: '{ site, ingest, request, sealedHash, sealed: { enc, ciphertext }, signature }: the answer { site, results, meta: { privacy } } sealed to the box key, signed by the ingest worker' }, ...errorResponses } },
    },
    '/api/v2/query': {
      post: {
        summary: "Realtime site stats in Plausible's Stats API v2 shape, plus w3a: { owner, salt, box, issuedAt, signature }; the answer comes sealed to the box key, as from /api/v1/sites/stats. The full Stats API (any date range, filters, order_by, pagination) is answered by jobs whose answers only the owner's key opens: `w3a site api` serves it on the owner's machine",
        responses: { 200: { description: '{ site, ingest, request, sealedHash, sealed, signature } (see /api/v1/sites/stats)' }, ...errorResponses },
      },
    },
    '/api/v1/campaigns/{id}/answers': {
      post: {
        summary: "A respondent's sealed answer (docs/formats.md, \"Campaign answers\"), relayed to the campaign's aggregator worker as the chain names it; 200 once its enclave logged it durably (docs/campaigns.md)",
        responses: { 200: { description: '{ accepted, campaignId }' }, ...errorResponses },
      },
    },
    '/api/v1/campaigns/{id}/result': {
      get: { summary: "The campaign's signed result from its aggregator, once released (docs/formats.md, \"Campaign results\"); clients verify it against the chain", responses: { 200: { description: 'campaign result' }, ...errorResponses } },
    },
    '/ipfs/{cid}': {
      get: {
        summary: 'IPFS trustless gateway: ?format=raw (one block) or ?format=car (the DAG)',
        parameters: [
          { name: 'cid', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'format', in: 'query', required: false, schema: { type: 'string', enum: ['raw', 'car'] } },
        ],
        responses: { 200: { description: 'application/vnd.ipld.raw or application/vnd.ipld.car' }, 400: { description: 'bad CID or format' }, 404: { description: 'block not held here' } },
      },
    },
  },
  components: {
    schemas: {
      Error: {
        type: 'object',
        properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array', items: { type: 'string' } }, docs: { type: 'string' } } } },
      },
      Network: {
        type: 'object',
        properties: { name: { type: 'string' }, chainId: { type: 'integer' }, rpcUrl: { type: 'string' }, contracts: { type: 'object' }, dev: { type: 'boolean' } },
      },
      Dataset: {
        type: 'object',
        properties: {
          id: { type: 'string' }, owner: { type: 'string' }, name: { type: 'string' }, manifestCid: { type: 'string' },
          schemaHash: { type: 'string' }, pricePerQuery: { type: 'string', description: 'token base units' },
          status: { type: 'string', enum: ['active', 'paused', 'deleted', 'unlisted'] }, createdAt: { type: 'integer' }, updatedAt: { type: 'integer' },
        },
      },
    },
  },
} as const
