/**
 * A `SqlClient` of another dialect: the SQL store and its migrations refuse
 * it with `UnsupportedDialect`, before any statement.
 */
import { assert, describe, it } from "@effect/vitest"
import { Outbox, OutboxMemory } from "@herald/outbox"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { SagaError, SagaMigrations, SagaSql } from "../src/index.ts"

/** Answers as a MySQL client would about its dialect; any statement would throw. */
const mysql = {
  withoutTransforms() {
    return this
  },
  onDialectOrElse: (options: { readonly orElse: () => unknown }) => options.orElse(),
  onDialect: (options: { readonly mysql: () => unknown }) => options.mysql()
} as unknown as SqlClient.SqlClient

const env = Layer.mergeAll(
  Layer.succeed(SqlClient.SqlClient, mysql),
  Outbox.layer.pipe(Layer.provide(OutboxMemory.layer))
)

describe("SagaSql on an unsupported dialect", () => {
  it.effect("make, migrate and migration fail with UnsupportedDialect naming it", () =>
    Effect.gen(function*() {
      const failures = [
        yield* Effect.flip(SagaSql.make()),
        yield* Effect.flip(SagaSql.make({ migrate: false })),
        yield* Effect.flip(SagaMigrations.migration())
      ]
      for (const error of failures) {
        assert.isTrue(SagaError.isSagaError(error))
        assert.strictEqual(error.reason._tag, "UnsupportedDialect")
        assert.strictEqual((error.reason as SagaError.UnsupportedDialect).dialect, "mysql")
        assert.isFalse(error.isRetryable)
      }
      assert.isTrue(SagaMigrations.dialectOf(mysql)._tag === "Failure")
    }).pipe(Effect.provide(env)))
})
