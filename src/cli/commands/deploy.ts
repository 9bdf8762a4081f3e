import { W3aError } from '../../core/errors.js'
import { dataDirLayout, DEFAULT_DATA_DIR } from '../../core/data-dir.js'
import { DEV_ACCOUNT_COUNT, ensureDeployment } from '../../chain/index.js'
import { DEV_ATTESTATION_SIGNER } from '../../tee/index.js'
import { allowDevBuild } from '../../node/allow-dev-build.js'
import type { Command } from '../command.js'
import { roleAccount } from '../role-account.js'

export const deployCommand: Command = {
  path: ['deploy'],
  summary: 'Deploy the W3A contracts on an EVM chain (idempotent: reuses the data dir’s deployment if its code is still there)',
  options: {
    'chain-rpc': { type: 'string', placeholder: 'URL', description: 'RPC of the chain to deploy on (required)' },
    dev: { type: 'boolean', description: 'a dev network: accepts the simulated TEE, funds the dev accounts, allows this build’s sim workers' },
    account: { type: 'string', placeholder: 'N', description: 'dev account that deploys and governs (--dev only; default 0); else $W3A_DEPLOYER_KEY' },
    'data-dir': { type: 'string', placeholder: 'DIR', description: `where the deployment is recorded (chain/deployment.json; default ${DEFAULT_DATA_DIR})` },
  },
  help: [
    'Records the addresses, the block and each contract’s code hash. A second run with the same data dir',
    'checks that the code is still there and unchanged, and sends nothing. Then start the parts against it:',
    '`w3a gateway --chain-rpc URL --data-dir DIR`, `w3a worker --gateway URL`.',
    'Example: npx w3a deploy --chain-rpc http://127.0.0.1:8545 --dev --data-dir ./net',
  ].join('\n'),
  async run({ values, out }) {
    const rpcUrl = values['chain-rpc']
    if (typeof rpcUrl !== 'string') throw new W3aError('INVALID_ARGUMENT', '--chain-rpc URL is required: the chain to deploy on')
    const dev = values['dev'] === true
    // The deployer becomes the network's governance.
    const deployer = roleAccount({ index: values['account'], option: 'account', envVar: 'W3A_DEPLOYER_KEY', dev, why: 'deploying a network needs a funded deployer key; it becomes the network’s governance' })
    const layout = dataDirLayout(values['data-dir'] as string | undefined)
    out.progress(`deploying on ${rpcUrl} (or checking the deployment in ${layout.deploymentFile})`)
    const deployment = await ensureDeployment({ rpcUrl, deploymentFile: layout.deploymentFile, fundAccounts: dev ? DEV_ACCOUNT_COUNT : 0, fundAmount: 1_000_000n * 10n ** 18n, deployer, dev, devAttestationSigner: DEV_ATTESTATION_SIGNER })
    const measurement = dev ? await allowDevBuild({ rpcUrl, deployment, governance: deployer }) : undefined
    out.result(
      { ...deployment, deploymentFile: layout.deploymentFile, ...(measurement ? { allowedMeasurement: measurement } : {}) },
      [
        `W3A contracts on chain ${deployment.chainId}${deployment.dev === false ? '' : ' (dev network)'}, recorded in ${layout.deploymentFile}`,
        `  token ${deployment.token}  datasets ${deployment.datasetRegistry}  workers ${deployment.workerRegistry}`,
        `  inbox ${deployment.custodyInbox}  market ${deployment.market}  jobs ${deployment.jobs}`,
        `  campaigns ${deployment.campaigns}  storage ${deployment.storageMarket}`,
        `  governance ${deployment.deployer}${measurement ? `; this build's sim worker measurement allowed: ${measurement}` : ''}`,
      ].join('\n'),
    )
  },
}
