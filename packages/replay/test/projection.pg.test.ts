/**
 * Projections with PostgreSQL checkpoints (`@effect/sql-pg`, one database
 * per file from `TestDatabase`, tables of their own per test) on the
 * in-memory transport.
 */
import { layer } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import * as Effect from "effect/Effect"
import { projectionSuite } from "./projectionSuite.ts"
import { sqlHarness } from "./sqlHarness.ts"

layer(TestDatabase.layerPg(), { excludeTestServices: true, timeout: "60 seconds" })(
  "Projections: memory transport, PostgreSQL checkpoints",
  (it) => {
    projectionSuite(sqlHarness("pg", (name, self) => it.effect(name, () => self().pipe(Effect.provide(MemoryTransport.layer)))))
  }
)
