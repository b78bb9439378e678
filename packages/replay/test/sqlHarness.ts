/**
 * The suite's harness on a SQL database: a checkpoint table of its own per
 * test on the `SqlClient` of the test, with a live clock.
 */
import type { EventLog, Topology } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { CheckpointSql } from "../src/index.ts"
import type { Harness } from "./projectionSuite.ts"
import { sqlTarget } from "./targets.ts"

let tables = 0

/**
 * `run` registers a test whose body needs the transport (`EventLog`,
 * `Topology`) and the `SqlClient`: `it.effect` of a `layer`, or `it.live`
 * with the layers provided.
 */
export const sqlHarness = (
  label: string,
  run: (
    name: string,
    self: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | SqlClient.SqlClient>
  ) => void
): Harness<SqlClient.SqlClient> => ({
  atomic: true,
  advance: (duration) => Effect.sleep(duration),
  pollInterval: Duration.millis(20),
  target: sqlTarget,
  test: (name, body) =>
    run(`${label}: ${name}`, () => {
      const table = `herald_ckpt_${++tables}`
      return Effect.scoped(body()).pipe(Effect.provide(CheckpointSql.layer({ table })))
    })
})
