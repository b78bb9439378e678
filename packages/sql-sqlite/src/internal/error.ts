/**
 * From an error thrown by `node:sqlite` to an `effect/sql` `SqlError`.
 *
 * `node:sqlite` throws an `Error` with `code: "ERR_SQLITE_ERROR"`, the
 * extended SQLite result code in `errcode` (e.g. 2067 for
 * SQLITE_CONSTRAINT_UNIQUE) and its text in `errstr`. That error is kept as
 * the reason's `cause`; the reason is chosen from the primary result code
 * (`errcode & 0xff`).
 */
import * as Predicate from "effect/Predicate"
import {
  AuthenticationError,
  AuthorizationError,
  ConnectionError,
  ConstraintError,
  LockTimeoutError,
  SqlError,
  type SqlErrorReason,
  SqlSyntaxError,
  UniqueViolation,
  UnknownError
} from "effect/sql/SqlError"

/** Primary and extended SQLite result codes this module distinguishes. */
export const Codes = {
  ERROR: 1,
  PERM: 3,
  BUSY: 5,
  LOCKED: 6,
  READONLY: 8,
  CANTOPEN: 14,
  CONSTRAINT: 19,
  AUTH: 23,
  CONSTRAINT_PRIMARYKEY: 1555,
  CONSTRAINT_UNIQUE: 2067
} as const

/** The extended SQLite result code of a `node:sqlite` error, if it is one. */
export const resultCodeOf = (cause: unknown): number | undefined =>
  Predicate.hasProperty(cause, "errcode") && typeof cause.errcode === "number" ? cause.errcode : undefined

const messageOf = (cause: unknown): string =>
  Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? cause.message : String(cause)

const constraintOf = (message: string): string => {
  const match = /(?:UNIQUE|PRIMARY KEY) constraint failed:\s*(.+)$/.exec(message)
  const name = match?.[1]?.trim()
  return name === undefined || name.length === 0 ? "unknown" : name
}

/** The reason for a failure of `operation` (open, execute, …) caused by `cause`. */
export const classify = (cause: unknown, operation: string): SqlErrorReason => {
  const message = messageOf(cause)
  const props = { cause, message, operation }
  const code = resultCodeOf(cause)
  if (code === undefined) return new UnknownError(props)
  if (code === Codes.CONSTRAINT_UNIQUE || code === Codes.CONSTRAINT_PRIMARYKEY) {
    return new UniqueViolation({ ...props, constraint: constraintOf(message) })
  }
  switch (code & 0xff) {
    case Codes.ERROR:
      return /syntax error|incomplete input|unrecognized token/i.test(message)
        ? new SqlSyntaxError(props)
        : new UnknownError(props)
    case Codes.PERM:
    case Codes.READONLY:
      return new AuthorizationError(props)
    case Codes.BUSY:
    case Codes.LOCKED:
      return new LockTimeoutError(props)
    case Codes.CANTOPEN:
      return new ConnectionError(props)
    case Codes.CONSTRAINT:
      return new ConstraintError(props)
    case Codes.AUTH:
      return new AuthenticationError(props)
    default:
      return new UnknownError(props)
  }
}

/** `classify`, wrapped in a `SqlError`. */
export const sqlError = (cause: unknown, operation: string): SqlError => new SqlError({ reason: classify(cause, operation) })

/** A `SqlError` for a value or setting refused before SQLite saw it. */
export const invalid = (message: string, operation: string, cause: unknown = message): SqlError =>
  new SqlError({ reason: new UnknownError({ cause, message, operation }) })
