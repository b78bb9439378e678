/**
 * The suite's harness on a SQL database: a checkpoint table of its own per
 * test on the `SqlClient` of the test, with a live clock.
 */
import { assert } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as SqlClient from "effect/sql/SqlClient"
import { CheckpointMigrations, CheckpointSql, Projection, ProjectionRunner, ReplayError } from "../src/index.ts"
import type { Env, Harness, Target } from "./projectionSuite.ts"
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
  testClock: false,
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

/**
 * Tests of the SQL store alone: the refusal inside an open transaction,
 * two runners of one projection at once, the migrations.
 */
export const sqlExtras = (
  label: string,
  run: (
    name: string,
    self: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | SqlClient.SqlClient>
  ) => void
) => {
  const withStore = (body: (table: string) => Effect.Effect<void, unknown, Env<SqlClient.SqlClient>>) => () => {
    const table = `herald_ckpt_x${++tables}`
    return Effect.scoped(body(table)).pipe(Effect.provide(CheckpointSql.layer({ table })))
  }

  const seeded = (count: number) =>
    Effect.gen(function*() {
      const n = ++tables
      const names = { stream: `PROJX${n}`, subject: `projx${n}.a`, name: `projx_${n}` }
      yield* Topology.ensure({ streams: [{ name: names.stream, subjects: [`projx${n}.>`] }] })
      const log = yield* EventLog.EventLog
      for (let i = 1; i <= count; i++) {
        yield* log.append(names.subject, Fixtures.envelope({ identity: 2_000_000 + n * 1000 + i, payload: { n: i } }))
      }
      return names
    })

  const projectionOf = (name: string, target: Target<SqlClient.SqlClient>) =>
    Projection.make({ name, handle: target.handle, reset: target.reset })

  run(`${label}: a run inside an open transaction is refused with NestedTransaction; nothing is applied`, withStore(() =>
    Effect.gen(function*() {
      const s = yield* seeded(3)
      const target = yield* sqlTarget(s.name)
      const sql = yield* SqlClient.SqlClient
      const error = yield* Effect.flip(
        sql.withTransaction(ProjectionRunner.catchUp(projectionOf(s.name, target), { stream: s.stream }))
      )
      assert.isTrue(ReplayError.isReplayError(error))
      const reason = (error as ReplayError.ReplayError).reason
      assert.strictEqual(reason._tag, "NestedTransaction")
      assert.include(reason.message, "cannot commit inside a transaction that is already open")
      assert.deepStrictEqual(yield* target.rows, [])
      const status = yield* ProjectionRunner.status(s.name, { stream: s.stream })
      assert.deepStrictEqual([status.stored, status.position], [false, 0])
    })))

  run(`${label}: two runners of one projection at once: each message applied once`, withStore(() =>
    Effect.gen(function*() {
      const s = yield* seeded(40)
      const target = yield* sqlTarget(s.name)
      const projection = projectionOf(s.name, target)
      const [a, b] = yield* Effect.all([
        Effect.exit(ProjectionRunner.catchUp(projection, { stream: s.stream, batchSize: 5 })),
        Effect.exit(ProjectionRunner.catchUp(projection, { stream: s.stream, batchSize: 5 }))
      ], { concurrency: 2 })
      // the loser (if they met) stopped on a moved checkpoint, with its batch rolled back
      for (const exit of [a, b]) {
        if (Exit.isFailure(exit)) {
          const error = Option.getOrUndefined(Exit.findErrorOption(exit))
          assert.isTrue(ReplayError.isReplayError(error), String(error))
          assert.strictEqual((error as ReplayError.ReplayError).reason._tag, "StoreError")
        }
      }
      assert.isTrue(Exit.isSuccess(a) || Exit.isSuccess(b), "one of them reached the head")
      const rows = yield* target.rows
      assert.deepStrictEqual(rows, Array.from({ length: 40 }, (_, i) => ({ sequence: i + 1, n: i + 1, applied: 1 })))
      assert.strictEqual((yield* ProjectionRunner.status(s.name, { stream: s.stream })).position, 40)
    })))

  run(`${label}: migrations run once, in their own migrations table; bad names are refused`, withStore((table) =>
    Effect.gen(function*() {
      // CheckpointSql.layer ran them already
      assert.deepStrictEqual(yield* CheckpointMigrations.migrate({ table }), [])
      const other = `${table}_b`
      assert.deepStrictEqual(yield* CheckpointMigrations.migrate({ table: other }), [[1, "create_checkpoints"]])
      assert.deepStrictEqual(yield* CheckpointMigrations.migrate({ table: other }), [])
      const sql = yield* SqlClient.SqlClient
      const recorded = yield* sql<{ readonly name: string }>`SELECT name FROM ${sql(`${other}_migrations`)}`
      assert.deepStrictEqual(recorded.map((r) => r.name), ["create_checkpoints"])
      const bad = yield* Effect.flip(CheckpointSql.make({ table: "no-dashes" }))
      assert.strictEqual(bad.reason._tag, "InvalidConfig")
      assert.include(bad.message, "\"no-dashes\" is not a plain SQL identifier")
    })))
}
