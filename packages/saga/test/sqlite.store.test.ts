/**
 * The store contract on `SagaSql` over SQLite (`@herald/sql-sqlite`, a fresh
 * `:memory:` database per test), with the outbox in the same database.
 */
import { SqliteClient } from "@herald/sql-sqlite"
import * as Layer from "effect/Layer"
import { sqlStore } from "./sqlHarness.ts"
import { storeSuite } from "./storeSuite.ts"

storeSuite("SagaStore contract: SagaSql on SQLite", {
  shared: Layer.empty,
  fresh: () => sqlStore().pipe(Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))),
  kind: "sql:sqlite",
  flushAppends: false,
  partitionKey: (saga, id) => `${saga}:${id}`
})
