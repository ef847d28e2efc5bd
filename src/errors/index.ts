// The one error type of Tessera. Every failure a caller can see carries a stable code; each
// protocol maps that code exactly once, here, to its own vocabulary: the HTTP status, CCF's error code
// (the `code` of CCF's JSON error body), and MesaTEE's ErrorKind for the wire listeners. Nothing else
// chooses a status or a CCF code: a failure CCF names more precisely than a generic code does has a
// code of its own below. docs/ARCHITECTURE.md ("Errors") lists this table; a test keeps the two equal.

interface Mapping {
  http: number;
  /** CCF's OData-style error code. */
  ccf: string;
  /** MesaTEE's ErrorKind name (mesatee_core/src/error.rs). */
  mesatee: string;
}

/**
 * Every code, with its three mappings. The generic codes come first; the specific ones after them are
 * CCF's own error codes (include/ccf/odata_error.h) where CCF's status and code differ from a generic
 * code's, each with the MesaTEE kind of the generic code it refines.
 */
export const ERROR_CODES = {
  invalid_input: { http: 400, ccf: 'InvalidInput', mesatee: 'InvalidInputError' },
  parse_error: { http: 400, ccf: 'InvalidInput', mesatee: 'ParseError' },
  missing_value: { http: 400, ccf: 'InvalidInput', mesatee: 'MissingValue' },
  unauthenticated: { http: 401, ccf: 'InvalidAuthenticationInfo', mesatee: 'PermissionDenied' },
  permission_denied: { http: 403, ccf: 'AuthorizationFailed', mesatee: 'PermissionDenied' },
  not_found: { http: 404, ccf: 'ResourceNotFound', mesatee: 'MissingValue' },
  not_acceptable: { http: 406, ccf: 'UnsupportedContentType', mesatee: 'InvalidInputError' },
  conflict: { http: 409, ccf: 'StateDigestMismatch', mesatee: 'PermissionDenied' },
  unsupported_function: { http: 404, ccf: 'ResourceNotFound', mesatee: 'FunctionNotSupportedError' },
  too_large: { http: 413, ccf: 'RequestTooLarge', mesatee: 'MsgSizeLimitExceedError' },
  function_failed: { http: 422, ccf: 'InternalError', mesatee: 'OutputGenerationError' },
  timeout: { http: 408, ccf: 'RequestTimeout', mesatee: 'IoError' },
  unavailable: { http: 503, ccf: 'ServiceUnavailable', mesatee: 'ConnectionRefused' },
  rate_limited: { http: 429, ccf: 'TooManyRequests', mesatee: 'ConnectionRefused' },
  insufficient_storage: { http: 507, ccf: 'InsufficientStorage', mesatee: 'IoError' },
  internal: { http: 500, ccf: 'InternalError', mesatee: 'InternalRPCError' },

  // Requests: headers, query parameters and path parameters CCF refuses by name.
  invalid_header_value: { http: 400, ccf: 'InvalidHeaderValue', mesatee: 'InvalidInputError' },
  missing_required_header: { http: 400, ccf: 'MissingRequiredHeader', mesatee: 'MissingValue' },
  invalid_query_parameter: { http: 400, ccf: 'InvalidQueryParameterValue', mesatee: 'InvalidInputError' },
  invalid_resource_name: { http: 400, ccf: 'InvalidResourceName', mesatee: 'InvalidInputError' },
  missing_api_version: { http: 400, ccf: 'MissingApiVersionParameter', mesatee: 'InvalidInputError' },
  unsupported_api_version: { http: 400, ccf: 'UnsupportedApiVersionValue', mesatee: 'InvalidInputError' },
  method_not_allowed: { http: 405, ccf: 'UnsupportedHttpVerb', mesatee: 'InvalidInputError' },

  // Transactions and views (CCF's /tx, /receipt, /commit and historical endpoints).
  tx_invalid: { http: 404, ccf: 'TransactionInvalid', mesatee: 'MissingValue' },
  tx_pending_or_unknown: { http: 404, ccf: 'TransactionPendingOrUnknown', mesatee: 'MissingValue' },
  tx_commit_attempts_exceeded: { http: 503, ccf: 'TransactionCommitAttemptsExceedLimit', mesatee: 'ConnectionRefused' },
  view_not_found: { http: 404, ccf: 'InvalidQueryParameterValue', mesatee: 'MissingValue' },

  // Governance (CCF's /gov endpoints).
  member_id_mismatch: { http: 400, ccf: 'InvalidAuthenticationInfo', mesatee: 'InvalidInputError' },
  invalid_created_at: { http: 400, ccf: 'InvalidCreatedAt', mesatee: 'InvalidInputError' },
  proposal_replay: { http: 400, ccf: 'ProposalReplay', mesatee: 'InvalidInputError' },
  proposal_created_too_long_ago: { http: 400, ccf: 'ProposalCreatedTooLongAgo', mesatee: 'InvalidInputError' },
  proposal_failed_to_validate: { http: 400, ccf: 'ProposalFailedToValidate', mesatee: 'InvalidInputError' },
  proposal_not_found: { http: 404, ccf: 'ProposalNotFound', mesatee: 'MissingValue' },
  proposal_not_open: { http: 400, ccf: 'ProposalNotOpen', mesatee: 'InvalidInputError' },
  vote_not_found: { http: 404, ccf: 'VoteNotFound', mesatee: 'MissingValue' },
  vote_already_exists: { http: 400, ccf: 'VoteAlreadyExists', mesatee: 'InvalidInputError' },
  node_not_retired_committed: { http: 400, ccf: 'NodeNotRetiredCommitted', mesatee: 'InvalidInputError' },

  // Apps and functions.
  app_route_ambiguous: { http: 500, ccf: 'InternalError', mesatee: 'InternalRPCError' },
  app_failed: { http: 500, ccf: 'InternalError', mesatee: 'OutputGenerationError' },
  function_not_found: { http: 404, ccf: 'FunctionNotFound', mesatee: 'MissingValue' },
} as const satisfies Record<string, Mapping>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One entry of CCF's error `details` array (e.g. one per authentication policy that refused). */
export interface ErrorDetail {
  code: string;
  message: string;
}

export interface TesseraErrorOptions {
  cause?: unknown;
  /** When to try again (e.g. for `unavailable`, `rate_limited`): HTTP's retry-after, in seconds. */
  retryAfterSeconds?: number;
  /** CCF's `details` in its error body. */
  details?: readonly ErrorDetail[];
  /** For `method_not_allowed`: the methods the path takes (HTTP's allow). */
  allowedMethods?: readonly string[];
  /** For `unauthenticated`: the challenge of the scheme the caller should use (HTTP's www-authenticate). */
  challenge?: string;
}

export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterSeconds?: number;
  readonly details?: readonly ErrorDetail[];
  readonly allowedMethods?: readonly string[];
  readonly challenge?: string;
  constructor(code: ErrorCode, message: string, options?: TesseraErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TesseraError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.details = options?.details;
    this.allowedMethods = options?.allowedMethods;
    this.challenge = options?.challenge;
  }
  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
  get ccfCode(): string {
    return ERROR_CODES[this.code].ccf;
  }
  get mesateeKind(): string {
    return ERROR_CODES[this.code].mesatee;
  }
}

/** Anything thrown becomes a TesseraError; unknown failures are internal and say nothing of their insides. */
export function asTesseraError(err: unknown): TesseraError {
  if (err instanceof TesseraError) return err;
  return new TesseraError('internal', 'internal error; the node log has the details', { cause: err });
}

/** Errors that mean the disk (or the user's quota on it) is full: ENOSPC and EDQUOT from the file system, SQLITE_FULL from SQLite. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}

/** A disk-full failure as the one error a caller sees (HTTP 507), naming where it happened; anything else unchanged. */
export function diskFullError(err: unknown, where: string, what: string): TesseraError {
  return new TesseraError('insufficient_storage', `the node's disk is full (no space left on the file system of ${where}): ${what}; delete files to free space, then try again`, { cause: err });
}

export const fail = (code: ErrorCode, message: string): never => {
  throw new TesseraError(code, message);
};
