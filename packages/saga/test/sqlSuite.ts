/**
 * What only the SQL store does: typed store errors, transactions that roll
 * back, the outbox rows and their relay, migrations and options.
 */
import { assert, layer } from "@effect/vitest"
import { OutboxRelay } from "@herald/outbox"
import { MemoryTransport } from "@herald/testing"
import { type Outbox, OutboxStore } from "@herald/outbox"
import { Topology, Wire } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as SqlClient from "effect/sql/SqlClient"
import { SagaError, SagaMigrations, SagaSql, SagaStore } from "../src/index.ts"
import { outboxOn, outboxRows, sqlStore, uniqueNames } from "./sqlHarness.ts"
import { commitOf, envelope, outgoing, timeout, timeoutTrigger } from "./storeSuite.ts"

export interface SqlSuiteOptions<S> {
  readonly dialect: "pg" | "sqlite"
  /** Built once for the suite (a database). */
  readonly shared: Layer.Layer<S, unknown>
  /** The `SqlClient` of one test (SQLite: a fresh database; PostgreSQL: the suite's). */
  readonly client: () => Layer.Layer<SqlClient.SqlClient, unknown, S>
  /** The code of a missing table. */
  readonly missingTable: string
}

const store = Effect.service(SagaStore.SagaStore)

const count = (table: string) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) =>
    Effect.map(sql<{ readonly n: number | string }>`SELECT count(*) AS n FROM ${sql(table)}`, (rows) => Number(rows[0]!.n)))

const counts = (names: ReturnType<typeof uniqueNames>) =>
  Effect.all({
    instances: count(`${names.prefix}_instances`),
    transitions: count(`${names.prefix}_transitions`),
    timeouts: count(`${names.prefix}_timeouts`),
    outbox: count(names.outbox)
  })

const storeError = (error: SagaError.SagaError): SagaError.StoreError => {
  assert.strictEqual(error.reason._tag, "StoreError")
  return error.reason as SagaError.StoreError
}

export const sqlSuite = <S>(name: string, options: SqlSuiteOptions<S>) =>
  layer(options.shared, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    /** A test on a fresh store of its own tables. */
    const test = <A>(
      title: string,
      body: (names: ReturnType<typeof uniqueNames>) => Effect.Effect<A, unknown, SagaStore.SagaStore | Outbox.Outbox | OutboxStore.OutboxStore | SqlClient.SqlClient>
    ) =>
      it.effect(title, () => {
        const names = uniqueNames()
        return Effect.provide(body(names), sqlStore({ names }).pipe(Layer.provideMerge(options.client())))
      })
    /** A test on the bare client. */
    const bare = <A>(title: string, body: () => Effect.Effect<A, unknown, SqlClient.SqlClient>) =>
      it.effect(title, () => Effect.provide(body(), options.client()))

    test("a conflict rolls back everything the commit wrote before it found out", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        const a = timeout("order", "o-1", "A", 101, 5_000)
        yield* s.commit(commitOf({ n: 1, schedule: [a], outgoing: [outgoing(1)] }))
        const before = yield* counts(names)
        assert.deepStrictEqual(before, { instances: 1, transitions: 1, timeouts: 1, outbox: 1 })
        // The transition and the instance are written before the fired timeout is found missing.
        const gone = timeout("order", "o-1", "A", 199, 5_000).token
        const result = yield* s.commit(
          commitOf({
            n: 2,
            expectedVersion: 1,
            status: "completed",
            trigger: timeoutTrigger(gone),
            fired: gone,
            cancel: ["A"],
            schedule: [timeout("order", "o-1", "B", 102, 6_000)],
            outgoing: [outgoing(2)]
          })
        )
        assert.strictEqual(result, "conflict")
        assert.deepStrictEqual(yield* counts(names), before)
        const instance = Option.getOrThrow(yield* s.load("order", "o-1"))
        assert.deepStrictEqual([instance.version, instance.status, instance.updatedAt], [1, "running", 1_000])
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [a])
        assert.isFalse(yield* s.processed("order", gone))
      }))

    test("inside the caller's transaction, a conflict rolls back only the commit (a savepoint)", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        const sql = yield* SqlClient.SqlClient
        yield* s.commit(commitOf({ n: 1 }))
        yield* sql`CREATE TABLE ${sql(`${names.prefix}_audit`)} (n INTEGER NOT NULL)`
        const results = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO ${sql(`${names.prefix}_audit`)} (n) VALUES (1)`
          const conflict = yield* s.commit(commitOf({ n: 2, expectedVersion: 0, outgoing: [outgoing(2)] }))
          const committed = yield* s.commit(commitOf({ n: 3, expectedVersion: 1, outgoing: [outgoing(3)] }))
          return [conflict, committed]
        }))
        assert.deepStrictEqual(results, ["conflict", "committed"])
        assert.strictEqual(yield* count(`${names.prefix}_audit`), 1)
        assert.deepStrictEqual(yield* counts(names), { instances: 1, transitions: 2, timeouts: 0, outbox: 1 })
      }))

    test("outgoing messages are outbox rows keyed by instance; the relay appends each instance's in commit order", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        yield* s.commit(commitOf({ n: 1, outgoing: [outgoing(1), outgoing(2)] }))
        yield* s.commit(commitOf({ n: 2, saga: "billing", id: "b-1", outgoing: [outgoing(3)] }))
        yield* s.commit(commitOf({ n: 3, expectedVersion: 1, outgoing: [outgoing(4)] }))
        assert.deepStrictEqual(
          (yield* outboxRows(names.outbox)).map((r) => [r.subject, r.message_id, r.partition_key]),
          [
            ["out.1", envelope(1).identity.messageId, "order:o-1"],
            ["out.2", envelope(2).identity.messageId, "order:o-1"],
            ["out.3", envelope(3).identity.messageId, "billing:b-1"],
            ["out.4", envelope(4).identity.messageId, "order:o-1"]
          ]
        )
        assert.strictEqual(yield* s.flush, 0)
        yield* Effect.gen(function*() {
          yield* Topology.Topology.use((t) => t.ensureStream({ name: "OUT", subjects: ["out.>"] }))
          const drained = yield* OutboxRelay.drain()
          assert.strictEqual(drained.published, 4)
          const stored = yield* MemoryTransport.MemoryTransport.use((m) => m.streamMessages("OUT"))
          const ids = stored.map((m) => Wire.header(m.raw, Wire.HeaderNames.natsMsgId))
          const idOf = (n: number) => envelope(n).identity.messageId
          // In commit order within an instance's key; keys are independent.
          assert.deepStrictEqual(ids.filter((id) => id !== idOf(3)), [idOf(1), idOf(2), idOf(4)])
          assert.deepStrictEqual([...ids].sort(), [1, 2, 3, 4].map(idOf))
          for (const m of stored) {
            const n = [1, 2, 3, 4].find((k) => idOf(k) === Wire.header(m.raw, Wire.HeaderNames.natsMsgId))!
            assert.strictEqual(m.subject, `out.${n}`)
            assert.deepStrictEqual(m.raw.body, envelope(n).body)
          }
        }).pipe(Effect.provide(MemoryTransport.layer))
      }))

    test("a dropped table is the store's fault: a typed, retryable StoreError naming the code", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        const sql = yield* SqlClient.SqlClient
        yield* s.commit(commitOf({ n: 1 }))
        yield* sql`DROP TABLE ${sql(`${names.prefix}_instances`)}`
        const failures = [
          yield* Effect.flip(s.commit(commitOf({ n: 2, expectedVersion: 1 }))),
          yield* Effect.flip(s.load("order", "o-1")),
          yield* Effect.flip(s.list()),
          yield* Effect.flip(s.deleteFinished(10_000))
        ]
        yield* sql`DROP TABLE ${sql(`${names.prefix}_timeouts`)}`
        yield* sql`DROP TABLE ${sql(`${names.prefix}_transitions`)}`
        failures.push(
          yield* Effect.flip(s.processed("order", "m-1")),
          yield* Effect.flip(s.history("order", "o-1")),
          yield* Effect.flip(s.timeouts("order", "o-1")),
          yield* Effect.flip(s.due(10_000, 10))
        )
        assert.strictEqual(failures.length, 8)
        for (const error of failures) {
          assert.isTrue(SagaError.isSagaError(error))
          const reason = storeError(error)
          assert.strictEqual(reason.code, options.missingTable)
          assert.isTrue(reason.retryable)
          assert.isTrue(error.isRetryable)
          assert.include(error.message, names.prefix)
        }
        // Migrated again (the migrations table still says it ran): the DDL alone.
        yield* SagaMigrations.migration({ prefix: names.prefix })
        assert.strictEqual(yield* s.commit(commitOf({ n: 3 })), "committed")
      }))

    test("a dropped outbox table fails the commit with a retryable StoreError, and the commit rolls back", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        const sql = yield* SqlClient.SqlClient
        yield* s.commit(commitOf({ n: 1 }))
        yield* sql`DROP TABLE ${sql(names.outbox)}`
        const error = yield* Effect.flip(s.commit(commitOf({ n: 2, expectedVersion: 1, outgoing: [outgoing(2)] })))
        const reason = storeError(error)
        assert.strictEqual(reason.code, options.missingTable)
        assert.isTrue(error.isRetryable)
        assert.strictEqual(Option.getOrThrow(yield* s.load("order", "o-1")).version, 1)
        assert.isFalse(yield* s.processed("order", "m-2"))
        // Without outgoing messages the outbox is not touched.
        assert.strictEqual(yield* s.commit(commitOf({ n: 3, expectedVersion: 1 })), "committed")
      }))

    test("what the tables cannot hold is an InvalidTransition, and nothing is written", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        yield* s.commit(commitOf({ n: 1 }))
        const before = yield* counts(names)
        const cycle: Record<string, unknown> = {}
        cycle.self = cycle
        const refused: ReadonlyArray<SagaStore.Commit> = [
          commitOf({ n: 2, expectedVersion: 1, state: 10n }),
          commitOf({ n: 2, expectedVersion: 1, state: cycle }),
          commitOf({ n: 2, expectedVersion: 1, state: undefined }),
          commitOf({ n: 2, expectedVersion: 1, status: "paused" as SagaStore.Status }),
          commitOf({ n: 2, expectedVersion: 1.5 }),
          commitOf({
            n: 2,
            expectedVersion: 1,
            schedule: [timeout("order", "o-1", "A", 101, 5_000), timeout("order", "o-1", "A", 102, 6_000)]
          }),
          commitOf({ n: 2, expectedVersion: 1, schedule: [timeout("order", "o-9", "A", 101, 5_000)] })
        ]
        for (const c of refused) {
          const error = yield* Effect.flip(s.commit(c))
          assert.strictEqual(error.reason._tag, "InvalidTransition")
          assert.isFalse(error.isRetryable)
        }
        assert.deepStrictEqual(yield* counts(names), before)
      }))

    test("a row whose JSON does not parse is a CorruptState of its instance, not a defect", (names) =>
      Effect.gen(function*() {
        const s = yield* store
        const sql = yield* SqlClient.SqlClient
        yield* s.commit(commitOf({ n: 1, schedule: [timeout("order", "o-1", "A", 101, 5_000)] }))
        yield* s.commit(commitOf({ n: 2, id: "o-2" }))
        yield* sql`UPDATE ${sql(`${names.prefix}_instances`)} SET state = '{broken' WHERE id = 'o-1'`
        yield* sql`UPDATE ${sql(`${names.prefix}_transitions`)} SET outgoing = 'nope' WHERE id = 'o-1'`
        yield* sql`UPDATE ${sql(`${names.prefix}_timeouts`)} SET headers = '' WHERE id = 'o-1'`
        const failures = [
          yield* Effect.flip(s.load("order", "o-1")),
          yield* Effect.flip(s.list()),
          yield* Effect.flip(s.history("order", "o-1")),
          yield* Effect.flip(s.timeouts("order", "o-1")),
          yield* Effect.flip(s.due(10_000, 10))
        ]
        for (const error of failures) {
          assert.strictEqual(error.reason._tag, "CorruptState")
          const reason = error.reason as SagaError.CorruptState
          assert.deepStrictEqual([reason.saga, reason.id], ["order", "o-1"])
          assert.isFalse(error.isRetryable)
        }
        assert.strictEqual(Option.getOrThrow(yield* s.load("order", "o-2")).version, 1)
      }))

    test("a schema-qualified prefix: tables in that schema, the store works on them", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const names = uniqueNames()
        const schema = options.dialect === "pg" ? `${names.prefix}_app` : "main"
        if (options.dialect === "pg") yield* sql`CREATE SCHEMA ${sql(schema)}`
        const prefix = `${schema}.${names.prefix}`
        const s = yield* SagaSql.make({ prefix })
        const a = timeout("order", "o-1", "A", 101, 5_000)
        assert.strictEqual(yield* s.commit(commitOf({ n: 1, schedule: [a], outgoing: [outgoing(1)] })), "committed")
        assert.strictEqual(yield* s.commit(commitOf({ n: 2, expectedVersion: 1, status: "completed" })), "committed")
        assert.deepStrictEqual(yield* s.timeouts("order", "o-1"), [a])
        assert.strictEqual((yield* s.history("order", "o-1")).length, 2)
        assert.strictEqual(yield* count(`${schema}.${names.prefix}_instances`), 1)
        assert.strictEqual(yield* s.deleteFinished(10_000), 1)
        assert.deepStrictEqual(yield* s.list(), [])
        assert.strictEqual(yield* count(`${schema}.${names.prefix}_migrations`), 1)
      }).pipe(Effect.provide(outboxOn(uniqueNames().outbox))))

    test("a limit that is not a non-negative integer is an InvalidConfig", () =>
      Effect.gen(function*() {
        const s = yield* store
        for (const limit of [-1, 1.5, Number.NaN]) {
          assert.strictEqual((yield* Effect.flip(s.list({ limit }))).reason._tag, "InvalidConfig")
          assert.strictEqual((yield* Effect.flip(s.due(0, limit))).reason._tag, "InvalidConfig")
        }
      }))

    bare("a prefix that is not an identifier is an InvalidConfig; migrate: false leaves the tables to the caller", () =>
      Effect.gen(function*() {
        const names = uniqueNames()
        const outbox = outboxOn(names.outbox)
        for (const prefix of ["bad-prefix", "a.b.c", "1saga", "x".repeat(39), ""]) {
          const error = yield* Effect.flip(Effect.provide(SagaSql.make({ prefix }), outbox))
          assert.strictEqual(error.reason._tag, "InvalidConfig")
        }
        assert.isTrue(Result.isSuccess(SagaMigrations.statements(options.dialect, { prefix: "x".repeat(38) })))
        assert.isTrue(Result.isFailure(SagaMigrations.statements(options.dialect, { prefix: "bad prefix" })))
        // migrate: false on missing tables: the store starts, its statements fail as the store's fault.
        const s = yield* Effect.flip(
          Effect.flatMap(SagaSql.make({ prefix: names.prefix, migrate: false }), (s) => s.load("order", "o-1")).pipe(
            Effect.provide(outbox)
          )
        )
        assert.isTrue(SagaError.isSagaError(s))
        assert.strictEqual(storeError(s as SagaError.SagaError).code, options.missingTable)
      }))

    bare("migrations run once, are idempotent, and create the tables and indexes", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { prefix } = uniqueNames()
        assert.deepStrictEqual(yield* SagaMigrations.migrate({ prefix }), [[1, "create_saga"]])
        assert.deepStrictEqual(yield* SagaMigrations.migrate({ prefix }), [])
        yield* SagaMigrations.migration({ prefix })
        const statements = SagaMigrations.statements(options.dialect, { prefix })
        assert.isTrue(Result.isSuccess(statements))
        assert.strictEqual(Result.getOrThrow(statements).length, 6)
        const indexes = options.dialect === "pg"
          ? (yield* sql<{ readonly name: string }>`SELECT indexname AS name FROM pg_indexes WHERE tablename LIKE ${`${prefix}_%`} ORDER BY indexname`)
          : (yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE ${`${prefix}_%`} AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name`)
        assert.deepStrictEqual(
          indexes.map((i) => i.name).filter((n) => n.endsWith("_idx")),
          [`${prefix}_instances_status_idx`, `${prefix}_timeouts_due_idx`, `${prefix}_transitions_instance_idx`]
        )
        const migrations = yield* count(`${prefix}_migrations`)
        assert.strictEqual(migrations, 1)
      }))
  })
