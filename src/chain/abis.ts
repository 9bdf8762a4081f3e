// Typed ABIs and bytecode from the generated artifacts (run `npm run build:contracts` first).
import { DatasetRegistryArtifact, W3ATokenArtifact } from './generated/artifacts.js'

export { DatasetRegistryArtifact, W3ATokenArtifact }
export const datasetRegistryAbi = DatasetRegistryArtifact.abi
export const w3aTokenAbi = W3ATokenArtifact.abi
