/**
 * The store contract on `SagaSql` over PostgreSQL (`@effect/sql-pg`, one
 * database per suite from `TestDatabase`, tables of their own per test),
 * with the outbox in the same database.
 */
import { TestDatabase } from "@herald/testing/pg"
import { sqlStore } from "./sqlHarness.ts"
import { storeSuite } from "./storeSuite.ts"

storeSuite("SagaStore contract: SagaSql on PostgreSQL", {
  shared: TestDatabase.layerPg(),
  fresh: () => sqlStore(),
  kind: "sql:pg",
  flushAppends: false,
  partitionKey: (saga, id) => `${saga}:${id}`
})
