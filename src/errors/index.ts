// The one error type of Tessera. Every failure a caller can see carries a stable code; each
// protocol maps that code exactly once, here, to its own vocabulary.

export type ErrorCode =
  | 'invalid_input'
  | 'parse_error'
  | 'missing_value'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'not_acceptable'
  | 'conflict'
  | 'unsupported_function'
  | 'too_large'
  | 'function_failed'
  | 'timeout'
  | 'unavailable'
  | 'rate_limited'
  | 'insufficient_storage'
  | 'internal';

interface Mapping {
  http: number;
  /** CCF's OData-style error code. */
  ccf: string;
  /** MesaTEE's ErrorKind name (mesatee_core/src/error.rs). */
  mesatee: string;
}

const MAPPINGS: Record<ErrorCode, Mapping> = {
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
};

export class TesseraError extends Error {
  readonly code: ErrorCode;
  /** A more specific CCF error code than the code's default, where CCF defines one (e.g. TransactionInvalid). */
  private readonly ccfOverride?: string;
  /** For `unavailable` and `rate_limited`: when to try again, sent as HTTP's retry-after. */
  readonly retryAfterSeconds?: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; ccf?: string; retryAfterSeconds?: number }) {
    super(message, options);
    this.name = 'TesseraError';
    this.code = code;
    this.ccfOverride = options?.ccf;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
  get httpStatus(): number {
    return MAPPINGS[this.code].http;
  }
  get ccfCode(): string {
    return this.ccfOverride ?? MAPPINGS[this.code].ccf;
  }
  get mesateeKind(): string {
    return MAPPINGS[this.code].mesatee;
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
