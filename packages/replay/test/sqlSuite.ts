/**
 * `SnapshotSql` on a SQL client: the store contract (a table of its own per
 * test), snapshots over the memory transport stored in it, and the
 * migrations.
 */
import { assert, layer } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import { ReplayError, SnapshotSql } from "../src/index.ts"
import { snapshotSuite } from "./snapshotSuite.ts"
import { storeSuite } from "./storeSuite.ts"

let tables = 0
const uniqueTable = () => `snapshots_${++tables}`

export const sqlSuite = <S extends SqlClient.SqlClient>(
  title: string,
  options: {
    readonly dialect: SnapshotSql.Dialect
    /** Built once for the suite (a database). */
    readonly shared: Layer.Layer<S, unknown>
    /** A client for one test: the shared one, or a fresh database. */
    readonly fresh: () => Layer.Layer<SqlClient.SqlClient, unknown, S>
  }
) => {
  const current = new Map<string, string>()
  storeSuite(`SnapshotStore contract: SnapshotSql on ${title}`, {
    shared: options.shared,
    fresh: () => {
      const table = uniqueTable()
      return Layer.unwrap(Effect.sync(() => {
        current.set("table", table)
        return SnapshotSql.layer({ table })
      })).pipe(Layer.provideMerge(options.fresh()))
    },
    kind: `sql:${options.dialect}`,
    corrupt: (name, sequence) =>
      Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
        sql`UPDATE ${sql(current.get("table")!)} SET state = ${"{not json"} WHERE name = ${name} AND sequence = ${sequence}`)
  })

  layer(options.shared, { excludeTestServices: true, timeout: "120 seconds" })(`Snapshots on ${title}`, (it) => {
    snapshotSuite({
      runs: 30,
      test: (name, body, timeout) =>
        it.effect(
          name,
          () =>
            Effect.scoped(Effect.provide(
              body(),
              Layer.merge(
                MemoryTransport.layer,
                SnapshotSql.layer({ table: uniqueTable() }).pipe(Layer.provide(options.fresh()))
              )
            )),
          timeout
        )
    })

    it.effect("migrate: its own migrations table, once; the DDL is idempotent", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = uniqueTable()
        const ran = yield* SnapshotSql.migrate({ table })
        assert.deepStrictEqual(ran.map(([id, name]) => [id, name]), [[1, "create_snapshots"]])
        assert.deepStrictEqual(yield* SnapshotSql.migrate({ table }), [])
        const recorded = yield* sql<{ readonly migration_id: number | string }>`SELECT migration_id FROM ${
          sql(`${table}_migrations`)
        }`
        assert.deepStrictEqual(recorded.map((r) => Number(r.migration_id)), [1])
        yield* SnapshotSql.migration({ table })
        const own = uniqueTable()
        yield* SnapshotSql.migrate({ table: own, migrationsTable: `${own}_ledger` })
        const ledger = yield* sql<{ readonly n: number | string }>`SELECT count(*) AS n FROM ${sql(`${own}_ledger`)}`
        assert.strictEqual(Number(ledger[0]!.n), 1)
        // the longest table: its default migrations table is 63 characters
        const longest = `t${tables}_`.padEnd(52, "x")
        assert.strictEqual(longest.length, 52)
        assert.strictEqual((yield* SnapshotSql.migrate({ table: longest })).length, 1)
        const stored = yield* SnapshotSql.make({ table, migrate: false })
        yield* stored.save("p", { stream: "S", sequence: 1, state: { a: 1 }, at: 7 })
        assert.deepStrictEqual(
          yield* stored.latest("p"),
          Option.some({ name: "p", stream: "S", sequence: 1, state: { a: 1 }, at: 7 })
        )
      }).pipe(Effect.provide(options.fresh())))

    it.effect("a table that is not an identifier is an InvalidConfig", () =>
      Effect.gen(function*() {
        for (
          const [table, detail] of [
            ["bad-name", `snapshot table "bad-name" is not a plain SQL identifier (letters, digits and '_', not starting with a digit)`],
            ["a.b.c", `snapshot table "a.b.c": at most one '.' (schema.name)`],
            ["x".repeat(53), `snapshot table "${"x".repeat(53)}" is longer than 52 characters`]
          ] as const
        ) {
          const exit = yield* Effect.exit(SnapshotSql.make({ table }))
          const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
          assert.isTrue(ReplayError.isReplayError(error))
          assert.strictEqual((error as ReplayError.ReplayError).message, `invalid replay configuration: ${detail}`)
        }
        const ddl = SnapshotSql.statements(options.dialect, { table: "app.snaps" })
        assert.isTrue(Result.isSuccess(ddl))
        assert.isTrue((ddl as Result.Success<ReadonlyArray<string>, never>).success[0]!.startsWith(
          `CREATE TABLE IF NOT EXISTS "app"."snaps" (`
        ))
      }).pipe(Effect.provide(options.fresh())))
  })
}
