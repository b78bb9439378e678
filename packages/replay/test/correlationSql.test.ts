/**
 * The correlation index's SQL table: migrations run once (in their own
 * migrations table), a table made by the first migration alone migrated
 * forward on both dialects (its rows read back without a kind), a
 * schema-qualified table, bad table names, and a client of another
 * dialect, refused before any statement.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { SqliteClient } from "@herald/sql-sqlite"
import { TestDatabase } from "@herald/testing/pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import { CorrelationIndexMigrations, CorrelationIndexSql, ReplayError } from "../src/index.ts"
import * as Tables from "../src/internal/correlationTables.ts"

const sqlite = () => SqliteClient.layer({ filename: ":memory:" })

const entry = {
  correlationId: "c",
  messageId: "m",
  causationId: "m",
  type: "t",
  kind: "command",
  subject: "s",
  stream: "S",
  sequence: 1,
  timestamp: 5
} as const

/** Answers as a MySQL client would about its dialect; any statement would throw. */
const mysql = {
  withoutTransforms() {
    return this
  },
  onDialectOrElse: (options: { readonly orElse: () => unknown }) => options.orElse(),
  onDialect: (options: { readonly mysql: () => unknown }) => options.mysql()
} as unknown as SqlClient.SqlClient

const invalidDetail = (error: unknown) => {
  assert.isTrue(ReplayError.isReplayError(error))
  const reason = (error as ReplayError.ReplayError).reason
  assert.strictEqual(reason._tag, "InvalidConfig")
  return (reason as ReplayError.InvalidConfig).detail
}

describe("CorrelationIndex SQL table", () => {
  it.effect("migrate runs its two migrations once, recorded in <table>_migrations", () =>
    Effect.gen(function*() {
      const first = yield* CorrelationIndexMigrations.migrate({ table: "corr" })
      assert.deepStrictEqual(first.map(([id, name]) => [id, name]), [[1, "create_correlation_index"], [2, "add_kind"]])
      assert.deepStrictEqual(yield* CorrelationIndexMigrations.migrate({ table: "corr" }), [])
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly migration_id: number }>`SELECT migration_id FROM corr_migrations ORDER BY migration_id`
      assert.deepStrictEqual(rows.map((r) => Number(r.migration_id)), [1, 2])
      // the store on it, without migrating again
      const index = yield* CorrelationIndexSql.make({ table: "corr", migrate: false })
      assert.strictEqual(yield* index.record([entry]), 1)
      assert.deepStrictEqual(yield* index.lookup("c"), [entry])
    }).pipe(Effect.provide(sqlite())))

  it.effect("migration: every migration as one idempotent effect", () =>
    Effect.gen(function*() {
      yield* CorrelationIndexMigrations.migration({ table: "corr_once" })
      yield* CorrelationIndexMigrations.migration({ table: "corr_once" })
      const sql = yield* SqlClient.SqlClient
      const columns = yield* sql<{ readonly name: string }>`SELECT name FROM pragma_table_info('corr_once') ORDER BY cid`
      assert.deepStrictEqual(columns.map((c) => c.name), [
        "stream",
        "sequence",
        "correlation_id",
        "message_id",
        "causation_id",
        "type",
        "subject",
        "timestamp",
        "kind"
      ])
      const index = yield* CorrelationIndexSql.make({ table: "corr_once", migrate: false })
      assert.strictEqual(yield* index.record([entry]), 1)
      assert.deepStrictEqual(yield* index.lookup("c"), [entry])
    }).pipe(Effect.provide(sqlite())))

  it.effect("a schema-qualified table (SQLite's main)", () =>
    Effect.gen(function*() {
      const index = yield* CorrelationIndexSql.make({ table: "main.corr_main" })
      assert.strictEqual(yield* index.record([entry, entry]), 1)
      assert.deepStrictEqual(yield* index.lookup("c", { stream: "S" }), [entry])
      const sql = yield* SqlClient.SqlClient
      const indexes = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'corr_main' AND name NOT LIKE 'sqlite_%'`
      assert.deepStrictEqual(indexes.map((r) => r.name), ["corr_main_correlation_idx"])
    }).pipe(Effect.provide(sqlite())))

  it.effect("statements: the DDL of each dialect; bad table names refused", () =>
    Effect.gen(function*() {
      const pg = Result.getOrThrow(CorrelationIndexMigrations.statements("pg", { table: "app.corr" }))
      assert.strictEqual(pg.length, 3)
      assert.isTrue(pg[0]!.startsWith(`CREATE TABLE IF NOT EXISTS "app"."corr" (`))
      assert.include(pg[0]!, "sequence BIGINT NOT NULL")
      assert.include(pg[0]!, "PRIMARY KEY (stream, sequence)")
      assert.strictEqual(pg[1], `CREATE INDEX IF NOT EXISTS "corr_correlation_idx" ON "app"."corr" (correlation_id)`)
      assert.strictEqual(pg[2], `ALTER TABLE "app"."corr" ADD COLUMN IF NOT EXISTS kind TEXT`)
      const lite = Result.getOrThrow(CorrelationIndexMigrations.statements("sqlite"))
      assert.strictEqual(lite.length, 3)
      assert.include(lite[0]!, `"herald_correlation_index"`)
      assert.include(lite[0]!, "WITHOUT ROWID")
      assert.strictEqual(lite[2], `ALTER TABLE "herald_correlation_index" ADD COLUMN kind TEXT`)
      const detail = (table: string) => {
        const r = CorrelationIndexMigrations.statements("pg", { table })
        assert.isTrue(Result.isFailure(r))
        return invalidDetail((r as Result.Failure<never, ReplayError.ReplayError>).failure)
      }
      assert.strictEqual(detail("a.b.c"), `table "a.b.c": at most one '.' (schema.name)`)
      assert.strictEqual(
        detail("drop table"),
        `table "drop table" is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`
      )
      assert.strictEqual(detail("x".repeat(48)), `table "${"x".repeat(48)}" is longer than 47 characters`)
      const refused = yield* Effect.flip(CorrelationIndexSql.make({ table: "1corr" }))
      assert.strictEqual(
        invalidDetail(refused),
        `table "1corr" is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`
      )
    }).pipe(Effect.provide(sqlite())))

  it.effect("a client of another dialect: UnsupportedDialect naming it", () =>
    Effect.gen(function*() {
      for (const error of [yield* Effect.flip(CorrelationIndexSql.make()), yield* Effect.flip(CorrelationIndexMigrations.migration())]) {
        assert.isTrue(ReplayError.isReplayError(error))
        assert.strictEqual(error.reason._tag, "UnsupportedDialect")
        assert.strictEqual((error.reason as ReplayError.UnsupportedDialect).dialect, "mysql")
        assert.isFalse(error.isRetryable)
      }
    }).pipe(Effect.provide(Layer.succeed(SqlClient.SqlClient, mysql))))
})

/**
 * A table as the first migration made it (before `kind`), holding rows,
 * then migrated: the second migration alone runs, the old rows read back
 * with `kind: null`, new ones keep theirs.
 */
const migratedForward = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = Result.getOrThrow(CorrelationIndexMigrations.dialectOf(sql))
    const table = Result.getOrThrow(Tables.parse(name))
    const before = yield* Migrator.make({})({
      loader: Migrator.fromRecord({
        "1_create_correlation_index": Effect.forEach(Tables.ddl(dialect, table), (statement) => sql.unsafe(statement).raw, {
          discard: true
        })
      }),
      table: `${name}_migrations`
    })
    assert.deepStrictEqual(before.map(([id]) => id), [1])
    for (const n of [1, 2]) {
      yield* sql.unsafe(
        `INSERT INTO ${table.quoted} (stream, sequence, correlation_id, message_id, causation_id, type, subject, timestamp) VALUES ('S', ${n}, 'old', 'm-${n}', 'm-1', 't', 's', ${10 + n})`
      ).raw
    }
    const ran = yield* CorrelationIndexMigrations.migrate({ table: name })
    assert.deepStrictEqual(ran.map(([id, migration]) => [id, migration]), [[2, "add_kind"]])
    assert.deepStrictEqual(yield* CorrelationIndexMigrations.migrate({ table: name }), [])
    const index = yield* CorrelationIndexSql.make({ table: name })
    const old = (n: number) => ({
      correlationId: "old",
      messageId: `m-${n}`,
      causationId: "m-1",
      type: "t",
      kind: null,
      subject: "s",
      stream: "S",
      sequence: n,
      timestamp: 10 + n
    })
    assert.deepStrictEqual(yield* index.lookup("old"), [old(1), old(2)])
    const fresh = { ...old(3), kind: "reply" } as const
    assert.strictEqual(yield* index.record([fresh, { ...old(1), kind: "event" }]), 1)
    assert.deepStrictEqual(yield* index.lookup("old"), [old(1), old(2), fresh])
  })

describe("CorrelationIndex SQL table migrated forward", () => {
  it.effect("SQLite: a table of the first migration gains kind; its rows have none", () =>
    migratedForward("corr_before_kind").pipe(Effect.provide(sqlite())))
})

layer(TestDatabase.layerPg(), { excludeTestServices: true, timeout: "60 seconds" })("CorrelationIndex PostgreSQL table migrated forward", (it) => {
  it.effect("PostgreSQL: a table of the first migration gains kind; its rows have none", () =>
    migratedForward("corr_before_kind"))
})
