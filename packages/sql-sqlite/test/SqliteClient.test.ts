import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import { SqliteClient } from "../src/index.ts"

const memory = SqliteClient.layer({ filename: ":memory:" })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "herald-sqlite-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** A client on `config`, open until the current scope closes. */
const open = (config: SqliteClient.SqliteClientConfig) =>
  SqliteClient.make(config).pipe(Effect.provide(Reactivity.layer))

const counter = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`
  yield* sql`INSERT INTO counter (id, n) VALUES (1, 0)`
  return sql
})

const countOf = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(sql<{ readonly n: number }>`SELECT count(*) AS n FROM ${sql(table)}`, (rows) => rows[0]!.n)

const failure = <A, R>(self: Effect.Effect<A, SqlError, R>) => Effect.flip(self)

describe("SqliteClient", () => {
  describe("queries and parameters", () => {
    it.effect("binds strings, numbers, bigints, booleans, null, undefined, bytes and dates", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (s TEXT, i INTEGER, r REAL, b INTEGER, n TEXT, u TEXT, bytes BLOB, d TEXT)`
        const date = new Date("2026-01-02T03:04:05.678Z")
        yield* sql`INSERT INTO t VALUES (${"it's"}, ${42n}, ${1.5}, ${true}, ${null}, ${undefined}, ${
          new Uint8Array([1, 2, 255])
        }, ${date})`
        const [row] = yield* sql`SELECT * FROM t`
        assert.deepStrictEqual({ ...row }, {
          s: "it's",
          i: 42,
          r: 1.5,
          b: 1,
          n: null,
          u: null,
          bytes: new Uint8Array([1, 2, 255]),
          d: "2026-01-02T03:04:05.678Z"
        })
      }).pipe(Effect.provide(memory)))

    it.effect("insert, in, identifiers and the values / raw / unprepared forms", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE ${sql("odd \"name\"")} (id INTEGER PRIMARY KEY, label TEXT NOT NULL)`
        const inserted = yield* sql`INSERT INTO ${sql("odd \"name\"")} ${
          sql.insert([{ id: 1, label: "a" }, { id: 2, label: "b" }, { id: 3, label: "c" }])
        } RETURNING id`
        assert.deepStrictEqual(inserted.map((r) => r.id), [1, 2, 3])
        const picked = yield* sql<{ readonly label: string }>`SELECT label FROM ${sql("odd \"name\"")} WHERE ${
          sql.in("id", [1, 3])
        } ORDER BY id`
        assert.deepStrictEqual(picked.map((r) => r.label), ["a", "c"])
        assert.deepStrictEqual(yield* sql`SELECT id, label FROM ${sql("odd \"name\"")} ORDER BY id`.values, [
          [1, "a"],
          [2, "b"],
          [3, "c"]
        ])
        assert.deepStrictEqual(yield* sql`SELECT id FROM ${sql("odd \"name\"")} WHERE id = ${2}`.valuesUnprepared, [[2]])
        const raw = yield* sql`UPDATE ${sql("odd \"name\"")} SET label = ${"z"} WHERE id >= ${2}`.raw
        assert.deepStrictEqual({ ...(raw as object) }, { changes: 2, lastInsertRowid: 3 })
        const rawRows = yield* sql`SELECT label FROM ${sql("odd \"name\"")} WHERE id = ${3}`.raw
        assert.deepStrictEqual((rawRows as Array<object>).map((r) => ({ ...r })), [{ label: "z" }])
        const unprepared = yield* sql`SELECT count(*) AS n FROM ${sql("odd \"name\"")}`.unprepared
        assert.strictEqual(unprepared[0]!.n, 3)
      }).pipe(Effect.provide(memory)))

    it.effect("a value SQLite cannot bind fails with a SqlError, and nothing is written", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (v TEXT)`
        const object = yield* failure(sql`INSERT INTO t (v) VALUES (${{ a: 1 } as unknown as string})`)
        assert.strictEqual(object.reason._tag, "UnknownError")
        assert.match(object.message, /parameter 1 cannot be bound/)
        assert.strictEqual(object.reason.operation, "bind")
        assert.isUndefined(SqliteClient.resultCode(object))
        const invalidDate = yield* failure(sql`INSERT INTO t (v) VALUES (${"ok"}), (${new Date(Number.NaN)})`)
        assert.match(invalidDate.message, /parameter 2 is an invalid Date/)
        assert.strictEqual(yield* countOf(sql, "t"), 0)
      }).pipe(Effect.provide(memory)))

    it.effect("SafeIntegers reads integers as bigints", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const big = 9_007_199_254_740_993n
        const [safe] = yield* sql`SELECT ${big} AS v`.pipe(Effect.provideService(SqlClient.SafeIntegers, true))
        assert.strictEqual(safe!.v, big)
        const [plain] = yield* sql`SELECT ${7n} AS v`
        assert.strictEqual(plain!.v, 7)
      }).pipe(Effect.provide(memory)))

    it.effect("transformQueryNames and transformResultNames rename identifiers and columns", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE people (first_name TEXT)`
        yield* sql`INSERT INTO people ${sql.insert({ firstName: "Ada" })}`
        assert.deepStrictEqual((yield* sql`SELECT * FROM people`).map((r) => ({ ...r })), [{ firstName: "Ada" }])
        assert.deepStrictEqual(
          (yield* sql`SELECT * FROM people`.withoutTransform).map((r) => ({ ...r })),
          [{ first_name: "Ada" }]
        )
      }).pipe(Effect.provide(SqliteClient.layer({
        filename: ":memory:",
        transformQueryNames: (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        transformResultNames: (s) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
      }))))

    it.effect("statements stay correct when the prepared-statement cache evicts them", () =>
      Effect.gen(function*() {
        for (const prepareCacheSize of [0, 1, 2]) {
          const sql = yield* open({ filename: ":memory:", prepareCacheSize })
          const results: Array<number> = []
          for (let i = 0; i < 6; i++) {
            const [a] = yield* sql`SELECT ${i} + 1 AS v`
            const [b] = yield* sql`SELECT ${i} * 10 AS v`
            const [c] = yield* sql`SELECT ${i} - 1 AS v`
            results.push(a!.v as number, b!.v as number, c!.v as number)
          }
          assert.deepStrictEqual(results, [1, 0, -1, 2, 10, 0, 3, 20, 1, 4, 30, 2, 5, 40, 3, 6, 50, 4])
        }
      }).pipe(Effect.scoped))

    it.effect("a stream reads every row in chunks, and one stopped early frees the connection", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE n (v INTEGER)`
        yield* sql`WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 1000) INSERT INTO n SELECT v FROM s`
        const all = yield* Stream.runCollect(sql<{ readonly v: number }>`SELECT v FROM n ORDER BY v`.stream)
        assert.strictEqual(all.length, 1000)
        assert.strictEqual(all.reduce((sum, r) => sum + r.v, 0), 500_500)
        const first = yield* Stream.runCollect(Stream.take(sql<{ readonly v: number }>`SELECT v FROM n ORDER BY v`.stream, 3))
        assert.deepStrictEqual(first.map((r) => r.v), [1, 2, 3])
        // The early stop released the statement and the connection: writes and transactions proceed.
        yield* sql.withTransaction(sql`DELETE FROM n WHERE v > 10`)
        assert.strictEqual(yield* countOf(sql, "n"), 10)
      }).pipe(Effect.provide(memory)))
  })

  describe("transactions", () => {
    it.effect("commit on success, roll back on failure", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (v INTEGER)`
        yield* sql.withTransaction(sql`INSERT INTO t VALUES (1)`)
        const exit = yield* Effect.exit(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (2)`, Effect.fail("no"))))
        assert.deepStrictEqual(exit, Exit.fail("no"))
        assert.deepStrictEqual((yield* sql`SELECT v FROM t`).map((r) => r.v), [1])
      }).pipe(Effect.provide(memory)))

    it.effect("nested transactions are savepoints: an inner failure undoes only the inner work", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (v INTEGER)`
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* Effect.exit(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (2)`, Effect.fail("inner"))))
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql`INSERT INTO t VALUES (3)`
            yield* Effect.exit(sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (4)`, Effect.fail("deep"))))
            yield* sql.withTransaction(sql`INSERT INTO t VALUES (5)`)
          }))
        }))
        assert.deepStrictEqual((yield* sql`SELECT v FROM t ORDER BY v`).map((r) => r.v), [1, 3, 5])
        // An outer failure undoes committed savepoints too.
        yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* sql.withTransaction(sql`INSERT INTO t VALUES (6)`)
          return yield* Effect.fail("outer")
        })))
        assert.deepStrictEqual((yield* sql`SELECT v FROM t ORDER BY v`).map((r) => r.v), [1, 3, 5])
        // No transaction was left open: a plain BEGIN outside succeeds.
        yield* sql`BEGIN`
        yield* sql`ROLLBACK`
        const client = yield* SqliteClient.SqliteClient
        assert.strictEqual(client.driver, SqliteClient.driver)
      }).pipe(Effect.provide(memory)))

    it.effect("a constraint violation inside a transaction fails it and rolls everything back", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY)`
        const error = yield* failure(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* sql`INSERT INTO t VALUES (2)`
          yield* sql`INSERT INTO t VALUES (1)`
        })))
        assert.strictEqual(error.reason._tag, "UniqueViolation")
        assert.strictEqual(yield* countOf(sql, "t"), 0)
      }).pipe(Effect.provide(memory)))

    it.effect("an interrupted transaction rolls back and frees the connection", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (v INTEGER)`
        const inside = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* Deferred.succeed(inside, undefined)
          return yield* Effect.never
        })))
        yield* Deferred.await(inside)
        yield* Fiber.interrupt(fiber)
        yield* sql.withTransaction(sql`INSERT INTO t VALUES (2)`)
        assert.deepStrictEqual((yield* sql`SELECT v FROM t`).map((r) => r.v), [2])
      }).pipe(Effect.provide(memory)))

    it.effect("afterCommit runs after a commit and never after a rollback", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const ran: Array<string> = []
        yield* sql.withTransaction(sql.afterCommit(Effect.sync(() => ran.push("committed"))))
        yield* Effect.exit(sql.withTransaction(
          Effect.andThen(sql.afterCommit(Effect.sync(() => ran.push("rolled back"))), Effect.fail("no"))
        ))
        assert.deepStrictEqual(ran, ["committed"])
      }).pipe(Effect.provide(memory)))
  })

  describe("errors keep the SQLite result code", () => {
    it.effect("constraint, syntax and missing-table failures", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL)`
        yield* sql`INSERT INTO t VALUES (1, 'a@x', 'a')`

        const unique = yield* failure(sql`INSERT INTO t VALUES (2, 'a@x', 'b')`)
        assert.strictEqual(unique.reason._tag, "UniqueViolation")
        assert.strictEqual(unique.reason._tag === "UniqueViolation" ? unique.reason.constraint : "", "t.email")
        assert.strictEqual(SqliteClient.resultCode(unique), 2067)
        assert.isFalse(unique.isRetryable)
        const cause = unique.reason.cause as { readonly code: string; readonly errcode: number; readonly errstr: string }
        assert.strictEqual(cause.code, "ERR_SQLITE_ERROR")
        assert.strictEqual(cause.errcode, 2067)
        assert.strictEqual(cause.errstr, "constraint failed")
        assert.match(unique.message, /UNIQUE constraint failed: t\.email/)

        const primary = yield* failure(sql`INSERT INTO t VALUES (1, 'b@x', 'b')`)
        assert.strictEqual(primary.reason._tag, "UniqueViolation")
        assert.strictEqual(SqliteClient.resultCode(primary), 1555)

        const notNull = yield* failure(sql`INSERT INTO t (id, email) VALUES (3, 'c@x')`)
        assert.strictEqual(notNull.reason._tag, "ConstraintError")
        assert.strictEqual(SqliteClient.resultCode(notNull), 1299)

        const syntax = yield* failure(sql`SELEC 1`)
        assert.strictEqual(syntax.reason._tag, "SqlSyntaxError")
        assert.strictEqual(SqliteClient.resultCode(syntax), 1)

        const missing = yield* failure(sql`SELECT * FROM nowhere`)
        assert.strictEqual(missing.reason._tag, "UnknownError")
        assert.strictEqual(SqliteClient.resultCode(missing), 1)
        assert.match(missing.message, /no such table: nowhere/)
      }).pipe(Effect.provide(memory)))

    it.effect("a lock held by another connection is a retryable LockTimeoutError (SQLITE_BUSY)", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = Path.join(dir, "busy.db")
        const first = yield* open({ filename })
        const second = yield* open({ filename })
        yield* first`CREATE TABLE t (v INTEGER)`
        const busy = yield* first.withTransaction(Effect.gen(function*() {
          yield* first`INSERT INTO t VALUES (1)`
          return yield* failure(second`INSERT INTO t VALUES (2)`)
        })).pipe(Effect.provideService(SqlClient.BeginTransaction, "BEGIN IMMEDIATE"))
        assert.strictEqual(busy.reason._tag, "LockTimeoutError")
        assert.strictEqual(SqliteClient.resultCode(busy)! & 0xff, 5)
        assert.isTrue(busy.isRetryable)
        yield* second`INSERT INTO t VALUES (2)`
        assert.deepStrictEqual((yield* first`SELECT v FROM t ORDER BY v`).map((r) => r.v), [1, 2])
      }).pipe(Effect.scoped))

    it.effect("writing to a read-only database is an AuthorizationError (SQLITE_READONLY)", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = Path.join(dir, "ro.db")
        const writer = yield* open({ filename })
        yield* writer`CREATE TABLE t (v INTEGER)`
        yield* writer`INSERT INTO t VALUES (1)`
        const reader = yield* open({ filename, readonly: true })
        assert.deepStrictEqual((yield* reader`SELECT v FROM t`).map((r) => r.v), [1])
        const error = yield* failure(reader`INSERT INTO t VALUES (2)`)
        assert.strictEqual(error.reason._tag, "AuthorizationError")
        assert.strictEqual(SqliteClient.resultCode(error)! & 0xff, 8)
      }).pipe(Effect.scoped))

    it.effect("a database that cannot be opened fails the layer with a ConnectionError (SQLITE_CANTOPEN)", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const error = yield* failure(Layer.build(SqliteClient.layer({ filename: Path.join(dir, "missing", "x.db") })))
        assert.strictEqual(error.reason._tag, "ConnectionError")
        assert.strictEqual(error.reason.operation, "open")
        assert.strictEqual(SqliteClient.resultCode(error), 14)
        const readonlyMissing = yield* failure(open({ filename: Path.join(dir, "absent.db"), readonly: true }))
        assert.strictEqual(readonlyMissing.reason._tag, "ConnectionError")
      }).pipe(Effect.scoped))

    it.effect("invalid settings fail with a SqlError before anything is opened", () =>
      Effect.gen(function*() {
        const size = yield* failure(open({ filename: ":memory:", prepareCacheSize: -1 }))
        assert.match(size.message, /prepareCacheSize must be a non-negative integer/)
        const timeout = yield* failure(open({ filename: ":memory:", busyTimeout: "soon" as never }))
        assert.match(timeout.message, /busyTimeout is not a duration/)
      }).pipe(Effect.scoped))
  })

  describe("files and lifetime", () => {
    it.effect("a writable file database uses WAL unless disabled; data survives reopening", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = Path.join(dir, "app.db")
        yield* Effect.scoped(Effect.gen(function*() {
          const sql = yield* open({ filename })
          const [mode] = yield* sql`PRAGMA journal_mode`
          assert.strictEqual(mode!.journal_mode, "wal")
          yield* sql`CREATE TABLE t (v INTEGER)`
          yield* sql`INSERT INTO t VALUES (1), (2)`
        }))
        const plain = yield* open({ filename: Path.join(dir, "plain.db"), disableWAL: true })
        const [mode] = yield* plain`PRAGMA journal_mode`
        assert.strictEqual(mode!.journal_mode, "delete")
        const again = yield* open({ filename })
        assert.strictEqual(yield* countOf(again, "t"), 2)
      }).pipe(Effect.scoped))

    it.effect("foreign keys are enforced unless turned off", () =>
      Effect.gen(function*() {
        for (const foreignKeys of [true, false]) {
          const sql = yield* open({ filename: ":memory:", foreignKeys })
          yield* sql`CREATE TABLE parent (id INTEGER PRIMARY KEY)`
          yield* sql`CREATE TABLE child (parent INTEGER REFERENCES parent (id))`
          const exit = yield* Effect.exit(sql`INSERT INTO child VALUES (1)`)
          assert.strictEqual(Exit.isFailure(exit), foreignKeys)
        }
      }).pipe(Effect.scoped))

    it.effect("closing the scope closes the database", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sql = yield* open({ filename: ":memory:" }).pipe(Scope.provide(scope))
        yield* sql`SELECT 1`
        yield* Scope.close(scope, Exit.void)
        const error = yield* failure(sql`SELECT 1`)
        assert.match(error.message, /database is closed/)
      }))
  })

  describe("concurrent use", () => {
    it.effect("concurrent read-modify-write transactions never interleave: exact count", () =>
      Effect.gen(function*() {
        const sql = yield* counter
        const increment = sql.withTransaction(Effect.gen(function*() {
          const [row] = yield* sql<{ readonly n: number }>`SELECT n FROM counter WHERE id = 1`
          yield* Effect.yieldNow
          yield* sql`UPDATE counter SET n = ${row!.n + 1} WHERE id = 1`
        }))
        yield* Effect.all(Array.from({ length: 200 }, () => increment), { concurrency: 50, discard: true })
        const [row] = yield* sql<{ readonly n: number }>`SELECT n FROM counter WHERE id = 1`
        assert.strictEqual(row!.n, 200)
      }).pipe(Effect.provide(memory)))

    it.effect("statements of other fibers wait for a transaction and never see or join it", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (v INTEGER)`
        const inside = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const tx = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t VALUES (1)`
          yield* Deferred.succeed(inside, undefined)
          yield* Deferred.await(release)
          return yield* Effect.fail("undo")
        })))
        yield* Deferred.await(inside)
        // Forked while the transaction is open: it must run after it, on its own.
        const outsider = yield* Effect.forkChild(sql`INSERT INTO t VALUES (2)`)
        yield* Effect.yieldNow
        yield* Deferred.succeed(release, undefined)
        assert.deepStrictEqual(yield* Effect.exit(Fiber.join(tx)), Exit.fail("undo"))
        yield* Fiber.join(outsider)
        assert.deepStrictEqual((yield* sql`SELECT v FROM t`).map((r) => r.v), [2])
      }).pipe(Effect.provide(memory)))

    it.effect("concurrent nested transactions inside one transaction each keep their own savepoint", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE t (v INTEGER)`
        yield* sql.withTransaction(
          Effect.all(
            Array.from({ length: 20 }, (_, i) =>
              Effect.exit(sql.withTransaction(Effect.gen(function*() {
                yield* sql`INSERT INTO t VALUES (${i})`
                yield* Effect.yieldNow
                if (i % 4 === 0) return yield* Effect.fail(`fail ${i}`)
              })))),
            { concurrency: "unbounded", discard: true }
          )
        )
        const values = (yield* sql<{ readonly v: number }>`SELECT v FROM t ORDER BY v`).map((r) => r.v)
        assert.deepStrictEqual(values, Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 4 !== 0))
      }).pipe(Effect.provide(memory)))
  })
})
