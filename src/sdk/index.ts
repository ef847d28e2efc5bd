// The Tessera SDK, the package's main entry.
export { Tessera, Task, FUNCTION_HASH_COVERS, type ConnectOptions, type TaskInfo, type TaskStatus, type FileInfo, type Progress, type RegisteredFunctionInfo } from './client.js';
export { ApiError } from './transport.js';
export type { WireAddresses } from './wire-backend.js';
export type { AuditorInput, VerificationOptions } from './verification.js';
export { loadIdentity, type Identity } from './identity.js';
export { TesseraError } from '../errors/index.js';
export type { NodeVerification } from '../attestation/verify.js';
export type { Collateral, TrustAnchors } from '../attestation/evidence.js';
export type { TdxCollateral } from '../attestation/tdx-tcb.js';
export type { HardwarePolicy, PlatformReport, SnpPlatform, TdxPlatform } from '../attestation/hardware-policy.js';
export { loadCollateralDir } from '../attestation/collateral.js';
export { verifyReceipt, type Receipt } from '../store/receipt.js';
