import { assert, describe, it, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { TestDatabase } from "@herald/testing/pg"

const exists = (name: string) =>
  Effect.scoped(
    Effect.flatMap(
      PgClient.make({ host: "127.0.0.1", port: 5432, username: "postgres", database: "postgres", maxConnections: 1 }),
      (sql) => sql<{ n: number }>`select count(*)::int as n from pg_database where datname = ${name}`
    )
  ).pipe(Effect.map((rows) => rows[0]!.n === 1), Effect.provide(Reactivity.layer))

describe("TestDatabase", () => {
  layer(TestDatabase.layerPg(), { excludeTestServices: true })((it) => {
    it.effect("gives the suite a database of its own", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`create table t (id serial primary key, v text not null)`
        yield* sql`insert into t (v) values ('a'), ('b')`
        const rows = yield* sql<{ v: string }>`select v from t order by id`
        assert.deepStrictEqual(rows.map((r) => r.v), ["a", "b"])
        const [db] = yield* sql<{ name: string }>`select current_database() as name`
        assert.match(db!.name, /^herald_test_\d+_[a-z0-9]+$/)
      }))
  })

  it.live("drops the database when the scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(TestDatabase.layerPg({ prefix: "herald_drop" }), scope)
      const [db] = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ name: string }>`select current_database() as name`),
        context
      )
      assert.isTrue(yield* exists(db!.name))
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* exists(db!.name))
    }))
})
