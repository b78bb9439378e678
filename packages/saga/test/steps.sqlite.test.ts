/**
 * `Saga.steps` on the SQL store over SQLite (a fresh `:memory:` database per
 * test), its messages carried by the outbox relay, on the live clock.
 */
import { IdGenerator } from "@herald/identity"
import { OutboxRelay } from "@herald/outbox"
import { SqliteClient } from "@herald/sql-sqlite"
import { MemoryTransport } from "@herald/testing"
import { describe } from "@effect/vitest"
import * as Layer from "effect/Layer"
import { sqlStore } from "./sqlHarness.ts"
import { stepsSuite } from "./stepsSuite.ts"

describe("Saga.steps on SagaSql over SQLite", () => {
  stepsSuite({
    fresh: () =>
      OutboxRelay.layer({ pollInterval: "50 millis" }).pipe(
        Layer.provideMerge(sqlStore()),
        Layer.provideMerge(Layer.merge(MemoryTransport.layer, IdGenerator.layer)),
        Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))
      ),
    clock: "live"
  })
})
