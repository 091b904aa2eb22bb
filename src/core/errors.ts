/**
 * Typed errors. A NanoroiError is a user-facing failure (bad input, impossible request): the CLI
 * prints its message as one line and exits 2. Anything else is a bug and keeps its stack trace.
 */
export type ErrorCode =
  | 'E_ARGS' // bad command-line or API arguments
  | 'E_IO' // file missing, unreadable, not a file
  | 'E_FORMAT' // corrupt, truncated or unsupported file content
  | 'E_SHAPE' // data does not match a declared shape/size
  | 'E_VALUE' // NaN, out of range, non-physical value
  | 'E_SCHEMA' // JSON fails its zod schema
  | 'E_GEOMETRY' // geometry does not match the data or is impossible
  | 'E_LIMITS' // stage/instrument limits violated
  | 'E_MODEL' // model missing or incompatible
  | 'E_STATE'; // pipeline state inconsistent (resume, manifest)

export class NanoroiError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NanoroiError';
    this.code = code;
  }
}

export function isNanoroiError(e: unknown): e is NanoroiError {
  return e instanceof NanoroiError;
}

/** Throw an E_ARGS/E_VALUE style error unless `cond` holds. */
export function ensure(cond: unknown, code: ErrorCode, message: string): asserts cond {
  if (!cond) throw new NanoroiError(code, message);
}
