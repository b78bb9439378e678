/**
 * What a failure of a message store says about the message: was it the
 * message itself (retrying cannot help; keep it aside), or the store
 * (retry later; the message is good)?
 *
 * The inbox and the outbox keep messages in PostgreSQL, SQLite or a NATS KV
 * bucket. When a statement fails, `classify` digs the database's own error
 * out of the failure (the `SqlError`'s cause: PostgreSQL's SQLSTATE `code`,
 * SQLite's `errcode`, or a `TransportError` from a KV bucket) and answers
 * with its code, its message and whether the message caused it:
 *
 * | caused by the message | PostgreSQL (SQLSTATE class) | SQLite (primary result code) | NATS KV |
 * |---|---|---|---|
 * | yes | `22` data exception, `23` integrity constraint violation, `54` program limit exceeded (too large) | `SQLITE_CONSTRAINT`, `SQLITE_TOOBIG`, `SQLITE_MISMATCH` | `MessageTooLarge` |
 * | no: everything else | a missing table (`42P01`), a lost connection (`08…`), a serialization failure (`40001`), a deadlock (`40P01`), a timeout (`57014`), refused credentials (`28…`) | `SQLITE_ERROR` (a missing table), `SQLITE_BUSY`, `SQLITE_IOERR`, `SQLITE_FULL` … | the bucket unavailable, a timeout, a lost connection |
 *
 * A failure that is not the message's fault heals when the store does (a
 * table restored, a connection back, a lock released): the message must be
 * retried, never set aside. An unknown failure counts as the store's.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as SqlError from "effect/sql/SqlError"
import * as TransportError from "./TransportError.ts"

/**
 * A classified store failure.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreFault {
  /**
   * The database's error code: a PostgreSQL SQLSTATE (`42P01`), a SQLite
   * result code name (`SQLITE_CONSTRAINT_NOTNULL`), a KV failure's reason
   * (`MessageTooLarge`), or a driver's code (`ECONNREFUSED`); `undefined`
   * when the failure carries none.
   */
  readonly code: string | undefined
  /** The database's message (`relation "herald_inbox" does not exist`). */
  readonly message: string
  /** `true` when the message itself caused the failure: retrying it cannot succeed. */
  readonly causedByMessage: boolean
}

const sqlite = [
  "SQLITE_OK",
  "SQLITE_ERROR",
  "SQLITE_INTERNAL",
  "SQLITE_PERM",
  "SQLITE_ABORT",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_NOMEM",
  "SQLITE_READONLY",
  "SQLITE_INTERRUPT",
  "SQLITE_IOERR",
  "SQLITE_CORRUPT",
  "SQLITE_NOTFOUND",
  "SQLITE_FULL",
  "SQLITE_CANTOPEN",
  "SQLITE_PROTOCOL",
  "SQLITE_EMPTY",
  "SQLITE_SCHEMA",
  "SQLITE_TOOBIG",
  "SQLITE_CONSTRAINT",
  "SQLITE_MISMATCH",
  "SQLITE_MISUSE",
  "SQLITE_NOLFS",
  "SQLITE_AUTH",
  "SQLITE_FORMAT",
  "SQLITE_RANGE",
  "SQLITE_NOTADB",
  "SQLITE_NOTICE",
  "SQLITE_WARNING"
] as const

/** The extended codes of `SQLITE_CONSTRAINT` (19 | n << 8). */
const sqliteConstraint = [
  "",
  "CHECK",
  "COMMITHOOK",
  "FOREIGNKEY",
  "FUNCTION",
  "NOTNULL",
  "PRIMARYKEY",
  "TRIGGER",
  "UNIQUE",
  "VTAB",
  "ROWID",
  "PINNED",
  "DATATYPE"
] as const

const sqliteByMessage = new Set(["SQLITE_CONSTRAINT", "SQLITE_TOOBIG", "SQLITE_MISMATCH"])

/**
 * The name of a SQLite result code (primary or extended): `19` →
 * `SQLITE_CONSTRAINT`, `1299` → `SQLITE_CONSTRAINT_NOTNULL`, `266` →
 * `SQLITE_IOERR` (other extended codes are named by their primary code).
 *
 * @since 0.1.0
 * @category sqlite
 */
export const sqliteCodeName = (code: number): string => {
  const primary = code & 0xff
  const name = sqlite[primary] ?? `SQLITE_${primary}`
  const extended = code >> 8
  if (primary === 19 && extended > 0 && extended < sqliteConstraint.length) return `${name}_${sqliteConstraint[extended]}`
  return name
}

/** `SQLITE_CONSTRAINT_UNIQUE` → `SQLITE_CONSTRAINT`. */
const sqlitePrimary = (name: string): string => {
  for (const primary of sqliteByMessage) {
    if (name === primary || name.startsWith(`${primary}_`)) return primary
  }
  return name
}

// A SQLSTATE: five digits or upper-case letters. Node's system error codes
// (`EPIPE`, `EPERM`) have the same shape, and no SQLSTATE class starts with `E`.
const sqlState = /^[0-9A-DF-Z][0-9A-Z]{4}$/

/**
 * Whether a PostgreSQL SQLSTATE says the data caused the failure: class
 * `22` (data exception: a NUL byte in text, a value out of range), `23`
 * (integrity constraint violation) or `54` (program limit exceeded: a value
 * or a row too large).
 *
 * @since 0.1.0
 * @category postgresql
 */
export const isDataSqlState = (code: string): boolean =>
  code.startsWith("22") || code.startsWith("23") || code.startsWith("54")

/**
 * Whether a SQLite result code (a number, primary or extended, or its
 * name) says the data caused the failure: `SQLITE_CONSTRAINT` (and its
 * extended codes), `SQLITE_TOOBIG`, `SQLITE_MISMATCH`.
 *
 * @since 0.1.0
 * @category sqlite
 */
export const isDataSqliteCode = (code: number | string): boolean =>
  sqliteByMessage.has(sqlitePrimary(typeof code === "number" ? sqliteCodeName(code) : code))

const messageOf = (u: unknown): string | undefined =>
  Predicate.hasProperty(u, "message") && typeof u.message === "string" && u.message.length > 0 ? u.message : undefined

/** Text for any value, without calling a `toString` that may be missing or throw. */
const textOf = (u: unknown): string => {
  const message = messageOf(u)
  if (message !== undefined) return message
  if (typeof u === "string") return u
  if (u === null || (typeof u !== "object" && typeof u !== "function")) return String(u)
  if (Predicate.hasProperty(u, "_tag") && typeof u._tag === "string") return u._tag
  return Object.prototype.toString.call(u)
}

/** The database's own error, where a driver's error carries one. */
const native = (u: unknown): StoreFault | undefined => {
  if (!Predicate.isObject(u)) return undefined
  const message = textOf(u)
  // node:sqlite: `errcode` is the (extended) result code, `code` is Node's `ERR_SQLITE_ERROR`.
  if (Predicate.hasProperty(u, "errcode") && typeof u.errcode === "number") {
    return { code: sqliteCodeName(u.errcode), message, causedByMessage: isDataSqliteCode(u.errcode) }
  }
  if (Predicate.hasProperty(u, "code") && typeof u.code === "string" && u.code.length > 0) {
    const code = u.code
    if (code.startsWith("SQLITE_")) return { code, message, causedByMessage: isDataSqliteCode(code) }
    if (sqlState.test(code)) return { code, message, causedByMessage: isDataSqlState(code) }
    return { code, message, causedByMessage: false }
  }
  return undefined
}

/** Reasons of `SqlError` that mean a constraint refused the data, when the driver gave no code. */
const sqlDataReasons = new Set(["UniqueViolation", "ConstraintError"])

const fromSql = (reason: SqlError.SqlErrorReason): StoreFault => {
  // The driver's error is the reason's cause, or (a wrapped failure) the cause's cause.
  const found = native(reason.cause) ??
    (Predicate.hasProperty(reason.cause, "cause") ? native(reason.cause.cause) : undefined)
  if (found !== undefined) return found
  return {
    code: undefined,
    message: `${reason._tag}: ${reason.message || textOf(reason.cause)}`,
    causedByMessage: sqlDataReasons.has(reason._tag)
  }
}

const fromTransport = (reason: TransportError.TransportErrorReason): StoreFault => ({
  code: reason._tag,
  message: reason.message,
  causedByMessage: reason._tag === "MessageTooLarge"
})

/**
 * Classifies a store's failure: a `SqlError` (or one of its reasons), a
 * `TransportError` from a KV bucket, or a driver's own error. See the
 * module documentation for what counts as caused by the message. Never
 * throws; anything unrecognized is the store's fault, with no code.
 *
 * @since 0.1.0
 * @category classifying
 */
export const classify = (cause: unknown): StoreFault => {
  if (SqlError.isSqlError(cause)) return fromSql(cause.reason)
  if (SqlError.isSqlErrorReason(cause)) return fromSql(cause)
  if (TransportError.isTransportError(cause)) return fromTransport(cause.reason)
  if (TransportError.isTransportErrorReason(cause)) return fromTransport(cause)
  return native(cause) ?? { code: undefined, message: textOf(cause), causedByMessage: false }
}

/**
 * A one-line description: `42P01 relation "herald_inbox" does not exist`,
 * or the message alone when there is no code.
 *
 * @since 0.1.0
 * @category utils
 */
export const format = (fault: StoreFault): string =>
  fault.code === undefined ? fault.message : `${fault.code} ${fault.message}`

/**
 * The fields of a package's `StoreError` reason for a failure: the
 * database's message as `detail`, its `code` when it has one, and
 * `retryable` unless the message itself caused it.
 *
 * @since 0.1.0
 * @category classifying
 */
export const errorFields = (
  cause: unknown
): { readonly detail: string; readonly code?: string; readonly retryable: boolean } => {
  const fault = classify(cause)
  return {
    detail: fault.message,
    ...(fault.code === undefined ? {} : { code: fault.code }),
    retryable: !fault.causedByMessage
  }
}
