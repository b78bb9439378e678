import { describe, expect, it } from "@effect/vitest"
import { StoreFault, TransportError } from "@herald/transport"
import * as SqlError from "effect/sql/SqlError"
import { DatabaseSync } from "node:sqlite"

/** A driver error as `@effect/sql-pg` builds it: an `Error` carrying the server's fields. */
const pgError = (code: string, message: string) =>
  Object.assign(new Error(message), { severity: "ERROR", code, message })

/** What node:sqlite throws for `statement` on a fresh database with `setup` applied. */
const sqliteError = (setup: string, statement: string): unknown => {
  const db = new DatabaseSync(":memory:")
  db.exec(setup)
  const result = (() => {
    try {
      db.exec(statement)
      return undefined
    } catch (e) {
      return e
    }
  })()
  db.close()
  if (result === undefined) throw new Error(`${statement} did not fail`)
  return result
}

const wrapped = (reason: SqlError.SqlErrorReason) => new SqlError.SqlError({ reason })

describe("StoreFault.classify", () => {
  describe("PostgreSQL: SQLSTATE classes 22, 23 and 54 are the message's fault, every other one the store's", () => {
    const cases: ReadonlyArray<readonly [string, string, boolean]> = [
      ["22021", "invalid byte sequence for encoding \"UTF8\": 0x00", true],
      ["22001", "value too long for type character varying(10)", true],
      ["22P02", "invalid input syntax for type bigint", true],
      ["23505", "duplicate key value violates unique constraint \"orders_pkey\"", true],
      ["23502", "null value in column \"subject\" violates not-null constraint", true],
      ["54000", "index row size 9000 exceeds btree version 4 maximum 2704", true],
      ["42P01", "relation \"herald_inbox\" does not exist", false],
      ["42703", "column \"nope\" does not exist", false],
      ["08006", "connection failure", false],
      ["57P01", "terminating connection due to administrator command", false],
      ["40001", "could not serialize access due to concurrent update", false],
      ["40P01", "deadlock detected", false],
      ["57014", "canceling statement due to statement timeout", false],
      ["55P03", "could not obtain lock on row", false],
      ["53300", "sorry, too many clients already", false],
      ["28P01", "password authentication failed for user \"app\"", false],
      ["42501", "permission denied for table herald_inbox", false],
      ["XX000", "could not open relation with OID 16384", false],
      ["25P02", "current transaction is aborted", false]
    ]
    for (const [code, message, byMessage] of cases) {
      it(`${code} ${byMessage ? "message" : "store"}`, () => {
        // The driver's SqlError, as sql-pg wraps it (the reason's tag does not decide).
        const error = wrapped(new SqlError.UnknownError({ cause: pgError(code, message), message: "PgConnection: Query failed" }))
        expect(StoreFault.classify(error)).toEqual({ code, message, causedByMessage: byMessage })
        expect(StoreFault.classify(error.reason)).toEqual({ code, message, causedByMessage: byMessage })
        expect(StoreFault.format(StoreFault.classify(error))).toBe(`${code} ${message}`)
      })
    }
  })

  it("a lost connection (a socket error, not a SQLSTATE) is the store's, with the driver's code", () => {
    const socket = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })
    const pipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" })
    expect(StoreFault.classify(wrapped(new SqlError.ConnectionError({ cause: socket })))).toEqual({
      code: "ECONNRESET",
      message: "read ECONNRESET",
      causedByMessage: false
    })
    expect(StoreFault.classify(wrapped(new SqlError.ConnectionError({ cause: pipe }))).causedByMessage).toBe(false)
  })

  describe("SQLite (node:sqlite's errors): CONSTRAINT, TOOBIG and MISMATCH are the message's fault", () => {
    const table = "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, n INTEGER CHECK (n > 0))"
    const cases: ReadonlyArray<readonly [string, string, string, RegExp, boolean]> = [
      ["missing table", table, "INSERT INTO nope VALUES (1)", /no such table: nope/, false],
      ["NOT NULL", table, "INSERT INTO t (k) VALUES (NULL)", /NOT NULL constraint failed/, true],
      ["UNIQUE", `${table}; INSERT INTO t (k) VALUES ('a')`, "INSERT INTO t (k) VALUES ('a')", /UNIQUE constraint failed/, true],
      ["CHECK", table, "INSERT INTO t (k, n) VALUES ('a', 0)", /CHECK constraint failed/, true],
      ["PRIMARY KEY", `${table}; INSERT INTO t (id, k) VALUES (1, 'a')`, "INSERT INTO t (id, k) VALUES (1, 'b')", /UNIQUE constraint failed: t.id/, true],
      ["MISMATCH", table, "INSERT INTO t (id, k) VALUES ('x', 'a')", /datatype mismatch/, true],
      ["syntax", table, "SELEC 1", /syntax error/, false]
    ]
    const codes: Record<string, string> = {
      "missing table": "SQLITE_ERROR",
      "NOT NULL": "SQLITE_CONSTRAINT_NOTNULL",
      UNIQUE: "SQLITE_CONSTRAINT_UNIQUE",
      CHECK: "SQLITE_CONSTRAINT_CHECK",
      "PRIMARY KEY": "SQLITE_CONSTRAINT_PRIMARYKEY",
      MISMATCH: "SQLITE_MISMATCH",
      syntax: "SQLITE_ERROR"
    }
    for (const [name, setup, statement, message, byMessage] of cases) {
      it(name, () => {
        const cause = sqliteError(setup, statement)
        const error = wrapped(SqlError.classifySqliteError(cause, { message: "Failed to execute statement" }))
        const fault = StoreFault.classify(error)
        expect(fault.code).toBe(codes[name])
        expect(fault.message).toMatch(message)
        expect(fault.causedByMessage).toBe(byMessage)
      })
    }
  })

  it("SQLite codes by number and by name", () => {
    expect(StoreFault.sqliteCodeName(1)).toBe("SQLITE_ERROR")
    expect(StoreFault.sqliteCodeName(18)).toBe("SQLITE_TOOBIG")
    expect(StoreFault.sqliteCodeName(1299)).toBe("SQLITE_CONSTRAINT_NOTNULL")
    expect(StoreFault.sqliteCodeName(2067)).toBe("SQLITE_CONSTRAINT_UNIQUE")
    expect(StoreFault.sqliteCodeName(266)).toBe("SQLITE_IOERR")
    expect(StoreFault.sqliteCodeName(5)).toBe("SQLITE_BUSY")
    for (const code of [18, 19, 20, 275, 787, 1299, 2067, 3091, "SQLITE_TOOBIG", "SQLITE_CONSTRAINT_FOREIGNKEY"]) {
      expect(StoreFault.isDataSqliteCode(code), String(code)).toBe(true)
    }
    for (const code of [1, 5, 6, 10, 13, 14, 17, 266, "SQLITE_BUSY", "SQLITE_IOERR_WRITE", "SQLITE_FULL"]) {
      expect(StoreFault.isDataSqliteCode(code), String(code)).toBe(false)
    }
    // A driver that names its codes (better-sqlite3's style).
    const named = Object.assign(new Error("string or blob too big"), { code: "SQLITE_TOOBIG" })
    expect(StoreFault.classify(wrapped(new SqlError.UnknownError({ cause: named })))).toEqual({
      code: "SQLITE_TOOBIG",
      message: "string or blob too big",
      causedByMessage: true
    })
  })

  it("without a driver code, the SqlError's reason decides: constraints are the message's, the rest the store's", () => {
    expect(StoreFault.classify(wrapped(new SqlError.ConstraintError({ cause: "x", message: "refused" })))).toEqual({
      code: undefined,
      message: "ConstraintError: refused",
      causedByMessage: true
    })
    expect(
      StoreFault.classify(wrapped(new SqlError.UniqueViolation({ cause: "x", constraint: "k" }))).causedByMessage
    ).toBe(true)
    for (
      const reason of [
        new SqlError.SqlSyntaxError({ cause: "x" }),
        new SqlError.AuthenticationError({ cause: "x" }),
        new SqlError.UnknownError({ cause: new Error("commit failed") }),
        new SqlError.StatementTimeoutError({ cause: "x" })
      ]
    ) {
      expect(StoreFault.classify(wrapped(reason)).causedByMessage, reason._tag).toBe(false)
    }
  })

  it("a KV bucket's failure (a TransportError): a value too large is the message's, the rest the store's", () => {
    const tooLarge = TransportError.make(new TransportError.MessageTooLarge({ size: 2_000_000, max: 1_048_576 }))
    expect(StoreFault.classify(tooLarge)).toEqual({
      code: "MessageTooLarge",
      message: "message of 2000000 bytes exceeds the maximum of 1048576 bytes",
      causedByMessage: true
    })
    for (
      const reason of [
        new TransportError.ConnectionError({ detail: "jetstream is not enabled" }),
        new TransportError.Timeout({ operation: "kv.create", millis: 5000 }),
        new TransportError.StreamNotFound({ stream: "KV_herald_inbox" }),
        new TransportError.Unknown({ detail: "?" })
      ]
    ) {
      const fault = StoreFault.classify(TransportError.make(reason))
      expect(fault.causedByMessage, reason._tag).toBe(false)
      expect(fault.code).toBe(reason._tag)
    }
  })

  it("anything else is the store's, and classify never throws", () => {
    for (const u of [undefined, null, 42, "boom", {}, [], new Error("x"), Object.create(null), { code: 7 }]) {
      const fault = StoreFault.classify(u)
      expect(fault.causedByMessage).toBe(false)
      expect(typeof fault.message).toBe("string")
    }
    expect(StoreFault.classify(new Error("x"))).toEqual({ code: undefined, message: "x", causedByMessage: false })
  })
})
