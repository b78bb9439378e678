/**
 * Projections with PostgreSQL checkpoints (`@effect/sql-pg`, one database
 * per file from `TestDatabase`, tables of their own per test) on the
 * in-memory transport.
 */
import { layer } from "@effect/vitest"
import { MemoryTransport } from "@herald/testing"
import { TestDatabase } from "@herald/testing/pg"
import type { EventLog, Topology } from "@herald/transport"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { projectionSuite } from "./projectionSuite.ts"
import { sqlExtras, sqlHarness } from "./sqlHarness.ts"

layer(TestDatabase.layerPg(), { excludeTestServices: true, timeout: "60 seconds" })(
  "Projections: memory transport, PostgreSQL checkpoints",
  (it) => {
    const run = (name: string, self: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | SqlClient.SqlClient>) =>
      it.effect(name, () => self().pipe(Effect.provide(MemoryTransport.layer)))
    projectionSuite(sqlHarness("pg", run))
    sqlExtras("pg", run)
  }
)
