/**
 * `Saga.steps` on the SQL store over PostgreSQL (a database per test), its
 * messages carried by the outbox relay, on the live clock.
 */
import { IdGenerator } from "@herald/identity"
import { OutboxRelay } from "@herald/outbox"
import { MemoryTransport } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import { describe } from "@effect/vitest"
import * as Layer from "effect/Layer"
import { sqlStore } from "./sqlHarness.ts"
import { stepsSuite } from "./stepsSuite.ts"

describe("Saga.steps on SagaSql over PostgreSQL", () => {
  stepsSuite({
    fresh: () =>
      OutboxRelay.layer({ pollInterval: "50 millis" }).pipe(
        Layer.provideMerge(sqlStore()),
        Layer.provideMerge(Layer.merge(MemoryTransport.layer, IdGenerator.layer)),
        Layer.provideMerge(TestDatabase.layerPg())
      ),
    clock: "live"
  })
})
