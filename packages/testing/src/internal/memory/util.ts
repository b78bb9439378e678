/**
 * Small helpers of the in-memory transport: errors, validation, durations and
 * message sizes.
 *
 * @since 0.1.0
 * @internal
 */
import { Subject, SubjectPattern } from "@herald/subject"
import { TransportError, Wire } from "@herald/transport"
import * as Result from "effect/Result"

/**
 * @since 0.1.0
 * @internal
 */
export const error = (reason: TransportError.TransportErrorReason): TransportError.TransportError =>
  TransportError.make(reason)

/**
 * Validates a concrete subject.
 *
 * @since 0.1.0
 * @internal
 */
export const validateSubject = (subject: string): Result.Result<Subject.Subject, TransportError.TransportError> =>
  Result.mapError(Subject.make(subject), (e) =>
    error(new TransportError.InvalidSubject({ subject, detail: e.message, cause: e })))

/**
 * Validates a subject pattern.
 *
 * @since 0.1.0
 * @internal
 */
export const validatePattern = (
  pattern: string
): Result.Result<SubjectPattern.SubjectPattern, TransportError.TransportError> =>
  Result.mapError(SubjectPattern.make(pattern), (e) =>
    error(new TransportError.InvalidSubject({ subject: pattern, detail: e.message, cause: e })))

/**
 * Validates every header of a raw message (token names, no CR/LF in values).
 *
 * @since 0.1.0
 * @internal
 */
export const validateHeaders = (raw: Wire.RawMessage): Result.Result<void, TransportError.TransportError> => {
  for (const name in raw.headers) {
    const valid = Wire.validateHeader(name, raw.headers[name]!)
    if (Result.isFailure(valid)) return valid
  }
  return Result.void
}

