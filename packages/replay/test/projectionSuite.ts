/**
 * Projections with checkpoints, run on any transport and any checkpoint
 * store: the projection's table counts how many times each message was
 * applied, and every test asserts exact rows, counts and positions.
 */
import { assert } from "@effect/vitest"
import { Fixtures, Wait } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Checkpoint, Projection, ProjectionRunner, ReplayError } from "../src/index.ts"

/** One row of a projection's table: a message, its payload, how many times it was applied. */
export interface Row {
  readonly sequence: number
  readonly n: number
  readonly applied: number
}

/** A projection's own table. */
export interface Target<R> {
  /** Adds one application of the message (insert, or `applied + 1`). */
  readonly handle: (message: EventLog.StoredMessage) => Effect.Effect<void, never, R>
  readonly reset: Effect.Effect<void, never, R>
  /** By sequence. */
  readonly rows: Effect.Effect<ReadonlyArray<Row>, never, R>
}

export type Env<R> = EventLog.EventLog | Topology.Topology | Checkpoint.CheckpointStore | Scope.Scope | R

export interface Harness<R> {
  /** Whether the store commits a batch in one transaction with the handler's writes. */
  readonly atomic: boolean
  /** Whether time is `TestClock`'s (no poll can fall between two appends). */
  readonly testClock: boolean
  /** Lets time pass for a runner that polls: `TestClock.adjust` or a real sleep. */
  readonly advance: (duration: Duration.Duration) => Effect.Effect<void>
  readonly pollInterval: Duration.Duration
  /** A fresh table for a projection. */
  readonly target: (name: string) => Effect.Effect<Target<R>, unknown, R>
  /** Runs one test with a fresh checkpoint store. */
  readonly test: (name: string, body: () => Effect.Effect<void, unknown, Env<R>>) => void
}

let counter = 0
let ids = 0
const unique = () => {
  const n = ++counter
  return { stream: `PROJ${n}_${process.pid}`, prefix: `proj${n}p${process.pid}`, name: `proj_${n}` }
}

const payloadOf = (message: EventLog.StoredMessage): number =>
  (Fixtures.json(message.envelope) as { readonly n: number }).n

const appendN = (subject: string, from: number, to: number) =>
  Effect.flatMap(Effect.service(EventLog.EventLog), (log) =>
    Effect.forEach(
      Array.from({ length: to - from + 1 }, (_, i) => from + i),
      (n) => log.append(subject, Fixtures.envelope({ identity: 1_000_000 + ++ids, payload: { n } })),
      { discard: true }
    ))

const seeded = (count: number, config?: Partial<Topology.StreamConfig>) =>
  Effect.gen(function*() {
    const names = unique()
    yield* Topology.ensure({ streams: [{ name: names.stream, subjects: [`${names.prefix}.>`], ...config }] })
    yield* appendN(`${names.prefix}.a`, 1, count)
    return { ...names, subject: `${names.prefix}.a` }
  })

/** `{ sequence, n: sequence, applied: 1 }` for each sequence. */
const once = (sequences: ReadonlyArray<number>): ReadonlyArray<Row> =>
  sequences.map((sequence) => ({ sequence, n: sequence, applied: 1 }))

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(self), (exit) => {
    assert.isTrue(Exit.isFailure(exit), "expected a failure")
    return Option.getOrUndefined(Exit.findErrorOption(exit as Exit.Exit<A, E>))
  })

const reasonOf = (error: unknown): ReplayError.ReplayErrorReason => {
  assert.isTrue(ReplayError.isReplayError(error), `expected a ReplayError, got ${String(error)}`)
  return (error as ReplayError.ReplayError).reason
}

export const projectionSuite = <R>(harness: Harness<R>) => {
  const { test } = harness
  const pollInterval = harness.pollInterval

  const waitFor = (
    handle: ProjectionRunner.Handle<unknown>,
    done: (s: ProjectionRunner.Stats) => boolean,
    what: string
  ) => Wait.until(handle.stats, done, what, { interval: pollInterval, advance: harness.advance })

  /** A projection on a fresh table; the handler blocks at `gate.at` (once `gate.reached` is completed). */
  const projectionOn = (
    name: string,
    target: Target<R>,
    options?: {
      readonly gate?: { readonly at: number; readonly reached: Deferred.Deferred<void> }
      readonly filter?: string
      readonly failAt?: number
    }
  ) =>
    Projection.make({
      name,
      filter: options?.filter,
      reset: target.reset,
      handle: (m: EventLog.StoredMessage) =>
        options?.gate !== undefined && m.sequence === options.gate.at
          ? Effect.andThen(Deferred.succeed(options.gate.reached, undefined), Effect.never)
          : options?.failAt === m.sequence
          ? Effect.fail(`boom at ${m.sequence}`)
          : Effect.andThen(
            Effect.sync(() => assert.strictEqual(payloadOf(m), m.sequence)),
            target.handle(m)
          )
    })

  test("catches up from 0 in batches, then follows the stream live", () =>
    Effect.gen(function*() {
      const s = yield* seeded(25)
      const target = yield* harness.target(s.name)
      const projection = projectionOn(s.name, target)
      const handle = yield* ProjectionRunner.run(projection, { stream: s.stream, batchSize: 10, pollInterval })
      const caught = yield* waitFor(handle, (x) => x.caughtUp && x.position === 25, "caught up to 25")
      assert.deepStrictEqual([caught.applied, caught.batches, caught.rebuilding], [25, 3, false])
      assert.deepStrictEqual(yield* target.rows, once(range(1, 25)))

      yield* appendN(s.subject, 26, 30)
      const live = yield* waitFor(handle, (x) => x.position === 30 && x.caughtUp, "followed to 30")
      assert.deepStrictEqual([live.applied, live.caughtUp], [30, true])
      if (harness.testClock) {
        // the five appends happened between two polls
        assert.strictEqual(live.batches, 4)
      } else {
        // a poll may fall between two appends: one batch per poll that found messages
        assert.isTrue(live.batches >= 4 && live.batches <= 8, `batches ${live.batches}`)
      }
      assert.deepStrictEqual(yield* target.rows, once(range(1, 30)))
      const status = yield* ProjectionRunner.status(projection, { stream: s.stream })
      assert.deepStrictEqual(
        [status.stored, status.position, status.lastSequence, status.lag, status.rebuilding],
        [true, 30, 30, 0, false]
      )
    }))

  test("killed in the middle of a batch and restarted: every message applied exactly once", () =>
    Effect.gen(function*() {
      const s = yield* seeded(25)
      const target = yield* harness.target(s.name)
      const reached = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      yield* Scope.provide(
        ProjectionRunner.run(projectionOn(s.name, target, { gate: { at: 15, reached } }), {
          stream: s.stream,
          batchSize: 10,
          pollInterval
        }),
        scope
      )
      // the handler of 15 is blocked inside the second batch (11-20)
      yield* Wait.bounded(Deferred.await(reached), "30 seconds", "the handler of 15 reached")
      yield* Scope.close(scope, Exit.void)

      // SQL: the second batch rolled back as a whole; memory: 11-14 were committed one by one
      const kept = harness.atomic ? 10 : 14
      assert.deepStrictEqual(yield* target.rows, once(range(1, kept)))
      const after = yield* ProjectionRunner.status(s.name, { stream: s.stream })
      assert.deepStrictEqual([after.position, after.lag], [kept, 25 - kept])

      const handle = yield* ProjectionRunner.run(projectionOn(s.name, target), { stream: s.stream, batchSize: 10, pollInterval })
      const done = yield* waitFor(handle, (x) => x.caughtUp && x.position === 25, "restarted run caught up")
      assert.strictEqual(done.applied, 25 - kept)
      assert.deepStrictEqual(yield* target.rows, once(range(1, 25)))
    }))

  test("a handler failure stops the runner; its batch is not committed", () =>
    Effect.gen(function*() {
      const s = yield* seeded(12)
      const target = yield* harness.target(s.name)
      const handle = yield* ProjectionRunner.run(projectionOn(s.name, target, { failAt: 7 }), {
        stream: s.stream,
        batchSize: 10,
        pollInterval
      })
      const error = yield* Effect.flip(Wait.bounded(handle.await, "30 seconds", "the runner stopped"))
      assert.strictEqual(error, "boom at 7")
      const kept = harness.atomic ? 0 : 6
      assert.deepStrictEqual(yield* target.rows, once(range(1, kept)))
      assert.strictEqual((yield* ProjectionRunner.status(s.name, { stream: s.stream })).position, kept)
      // fixed, it goes on from there
      const stats = yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream, batchSize: 10 })
      assert.deepStrictEqual([stats.position, stats.applied], [12, 12 - kept])
      assert.deepStrictEqual(yield* target.rows, once(range(1, 12)))
    }))

  test("a rebuild killed halfway resumes, and ends equal to a clean rebuild", () =>
    Effect.gen(function*() {
      const s = yield* seeded(23)
      const target = yield* harness.target(s.name)
      const first = yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream, batchSize: 5 })
      assert.deepStrictEqual([first.position, first.applied, first.batches], [23, 23, 5])
      assert.deepStrictEqual(yield* target.rows, once(range(1, 23)))

      // the rebuild: reset, then blocked at 13 (its third batch, 11-15)
      const reached = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      yield* Scope.provide(
        ProjectionRunner.rebuild(projectionOn(s.name, target, { gate: { at: 13, reached } }), {
          stream: s.stream,
          batchSize: 5,
          pollInterval
        }),
        scope
      )
      yield* Wait.bounded(Deferred.await(reached), "30 seconds", "the rebuild reached 13")
      yield* Scope.close(scope, Exit.void)
      const kept = harness.atomic ? 10 : 12
      assert.deepStrictEqual(yield* target.rows, once(range(1, kept)))
      const halfway = yield* ProjectionRunner.status(s.name, { stream: s.stream })
      assert.deepStrictEqual([halfway.position, halfway.rebuilding], [kept, true])

      // the next run resumes the rebuild from its checkpoint
      const resumed = yield* ProjectionRunner.run(projectionOn(s.name, target), { stream: s.stream, batchSize: 5, pollInterval })
      const done = yield* waitFor(resumed, (x) => x.caughtUp && x.position === 23, "resumed rebuild at the head")
      assert.deepStrictEqual([done.applied, done.rebuilding], [23 - kept, false])
      const ended = yield* ProjectionRunner.status(s.name, { stream: s.stream })
      assert.deepStrictEqual([ended.position, ended.rebuilding], [23, false])

      // a clean rebuild of another projection over the same stream
      const cleanName = `${s.name}_clean`
      const clean = yield* harness.target(cleanName)
      const cleanHandle = yield* ProjectionRunner.rebuild(projectionOn(cleanName, clean), {
        stream: s.stream,
        batchSize: 5,
        pollInterval
      })
      const cleanDone = yield* waitFor(cleanHandle, (x) => x.caughtUp && x.position === 23, "clean rebuild at the head")
      assert.deepStrictEqual([cleanDone.applied, cleanDone.rebuilding], [23, false])
      assert.deepStrictEqual(yield* target.rows, yield* clean.rows)
      assert.deepStrictEqual(yield* clean.rows, once(range(1, 23)))
    }))

  test("a rebuild resets the table and the checkpoint in one step, and clears its flag at the head", () =>
    Effect.gen(function*() {
      const s = yield* seeded(4)
      const target = yield* harness.target(s.name)
      yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream })
      const handle = yield* ProjectionRunner.rebuild(projectionOn(s.name, target), { stream: s.stream, pollInterval })
      const done = yield* waitFor(handle, (x) => x.caughtUp && !x.rebuilding, "rebuild done")
      assert.deepStrictEqual([done.position, done.applied], [4, 4])
      assert.deepStrictEqual(yield* target.rows, once(range(1, 4)))

      // an empty stream: the rebuild has nothing to apply and still clears its flag
      const e = yield* seeded(0)
      const emptyTarget = yield* harness.target(e.name)
      const empty = yield* ProjectionRunner.rebuild(projectionOn(e.name, emptyTarget), { stream: e.stream, pollInterval })
      const emptyDone = yield* waitFor(empty, (x) => x.caughtUp && !x.rebuilding, "empty rebuild done")
      assert.deepStrictEqual([emptyDone.position, emptyDone.applied], [0, 0])
      const status = yield* ProjectionRunner.status(e.name, { stream: e.stream })
      assert.deepStrictEqual([status.stored, status.position, status.rebuilding], [true, 0, false])
    }))

  test("a checkpoint beyond the stream's end fails with CheckpointBeyondEnd; nothing is applied", () =>
    Effect.gen(function*() {
      const s = yield* seeded(10)
      const target = yield* harness.target(s.name)
      yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream })
      // the stream is recreated with 3 messages
      const topology = yield* Topology.Topology
      yield* topology.deleteStream(s.stream)
      yield* Topology.ensure({ streams: [{ name: s.stream, subjects: [`${s.prefix}.>`] }] })
      yield* appendN(s.subject, 1, 3)
      for (
        const attempt of [
          Effect.asVoid(ProjectionRunner.run(projectionOn(s.name, target), { stream: s.stream, pollInterval })),
          Effect.asVoid(ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream }))
        ]
      ) {
        const reason = reasonOf(yield* failureOf(attempt))
        assert.strictEqual(reason._tag, "CheckpointBeyondEnd")
        const r = reason as ReplayError.CheckpointBeyondEnd
        assert.deepStrictEqual([r.projection, r.stream, r.checkpoint, r.lastSequence], [s.name, s.stream, 10, 3])
        assert.isFalse(reason.isRetryable)
      }
      assert.deepStrictEqual(yield* target.rows, once(range(1, 10)))
      const status = yield* ProjectionRunner.status(s.name, { stream: s.stream })
      assert.deepStrictEqual([status.position, status.lastSequence, status.lag], [10, 3, -7])
    }))

  test("a checkpoint into a purged prefix fails with CheckpointPurged; nothing is applied or reset", () =>
    Effect.gen(function*() {
      const s = yield* seeded(3, { maxMessages: 5 })
      const target = yield* harness.target(s.name)
      const at3 = yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream })
      assert.strictEqual(at3.position, 3)
      // 10 messages, 5 kept: 6-10
      yield* appendN(s.subject, 4, 10)
      const log = yield* EventLog.EventLog
      const info = yield* log.info(s.stream)
      assert.deepStrictEqual([info.firstSequence, info.lastSequence, info.messages], [6, 10, 5])

      for (const attempt of [
        ProjectionRunner.run(projectionOn(s.name, target), { stream: s.stream, pollInterval }),
        ProjectionRunner.rebuild(projectionOn(s.name, target), { stream: s.stream, pollInterval })
      ]) {
        const reason = reasonOf(yield* failureOf(attempt))
        assert.strictEqual(reason._tag, "CheckpointPurged")
        const r = reason as ReplayError.CheckpointPurged
        // the rebuild is checked at 0, before its reset
        assert.deepStrictEqual([r.stream, r.firstSequence], [s.stream, 6])
        assert.include([0, 3], r.checkpoint)
      }
      assert.deepStrictEqual(yield* target.rows, once(range(1, 3)))
      const status = yield* ProjectionRunner.status(s.name, { stream: s.stream })
      assert.deepStrictEqual([status.position, status.rebuilding], [3, false])

      // a new projection fails too, unless told to start at the first kept message
      const freshName = `${s.name}_new`
      const fresh = yield* harness.target(freshName)
      const reason = reasonOf(yield* failureOf(ProjectionRunner.catchUp(projectionOn(freshName, fresh), { stream: s.stream })))
      assert.strictEqual(reason._tag, "CheckpointPurged")
      assert.deepStrictEqual(
        [(reason as ReplayError.CheckpointPurged).checkpoint, (reason as ReplayError.CheckpointPurged).firstSequence],
        [0, 6]
      )
      assert.deepStrictEqual(yield* fresh.rows, [])
      const started = yield* ProjectionRunner.catchUp(projectionOn(freshName, fresh), {
        stream: s.stream,
        startAtFirstKept: true
      })
      assert.deepStrictEqual([started.position, started.applied], [10, 5])
      assert.deepStrictEqual(yield* fresh.rows, once(range(6, 10)))

      // a checkpoint right before the first kept message is fine
      const at5Name = `${s.name}_at5`
      const store = yield* Checkpoint.CheckpointStore
      yield* store.commit({ projection: at5Name, stream: s.stream, from: 0, to: 5, rebuilding: false }, Effect.void)
      const at5 = yield* harness.target(at5Name)
      const from5 = yield* ProjectionRunner.catchUp(projectionOn(at5Name, at5), { stream: s.stream })
      assert.deepStrictEqual([from5.position, from5.applied], [10, 5])
      assert.deepStrictEqual(yield* at5.rows, once(range(6, 10)))
    }))

  test("holes in the stream and messages left out by the filter are passed by position", () =>
    Effect.gen(function*() {
      const names = unique()
      yield* Topology.ensure({
        streams: [{ name: names.stream, subjects: [`${names.prefix}.>`], maxMessagesPerSubject: 1 }]
      })
      const log = yield* EventLog.EventLog
      // 1: a, 2: b, 3: b (drops 2), 4: c, 5: c (drops 4), 6: d, 7: e
      for (const [n, subject] of [[1, "a"], [2, "b"], [3, "b"], [4, "c"], [5, "c"], [6, "d"], [7, "e"]] as const) {
        yield* log.append(`${names.prefix}.${subject}`, Fixtures.envelope({ identity: 1_000_000 + ++ids, payload: { n } }))
      }
      const target = yield* harness.target(names.name)
      const all = yield* ProjectionRunner.catchUp(projectionOn(names.name, target), { stream: names.stream, batchSize: 2 })
      assert.deepStrictEqual([all.position, all.applied], [7, 5])
      assert.deepStrictEqual(yield* target.rows, once([1, 3, 5, 6, 7]))

      const filteredName = `${names.name}_c`
      const filtered = yield* harness.target(filteredName)
      const some = yield* ProjectionRunner.catchUp(
        projectionOn(filteredName, filtered, { filter: `${names.prefix}.c` }),
        { stream: names.stream, batchSize: 2 }
      )
      assert.deepStrictEqual([some.position, some.applied], [7, 1])
      assert.deepStrictEqual(yield* filtered.rows, once([5]))
    }))

  test("a commit from a position the checkpoint is not at fails and applies nothing", () =>
    Effect.gen(function*() {
      const s = yield* seeded(3)
      const target = yield* harness.target(s.name)
      yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream })
      const store = yield* Checkpoint.CheckpointStore
      const log = yield* EventLog.EventLog
      const [message] = Array.from(
        yield* Stream.runCollect(log.read(s.stream, { from: { sequence: 2 }, to: { sequence: 2 } }))
      )
      const error = yield* Effect.flip(
        store.commit({ projection: s.name, stream: s.stream, from: 1, to: 2, rebuilding: false }, target.handle(message!))
      )
      const reason = reasonOf(error)
      assert.strictEqual(reason._tag, "StoreError")
      assert.include(reason.message, "expected it at 1")
      assert.deepStrictEqual(yield* target.rows, once(range(1, 3)))
      assert.strictEqual((yield* ProjectionRunner.status(s.name, { stream: s.stream })).position, 3)
    }))

  test("bad definitions and options are refused with InvalidConfig before anything is read", () =>
    Effect.gen(function*() {
      const s = yield* seeded(2)
      const target = yield* harness.target(s.name)
      const invalid = (detail: string) => (error: unknown) => {
        const reason = reasonOf(error)
        assert.strictEqual(reason._tag, "InvalidConfig")
        assert.include(reason.message, detail)
      }
      invalid("a projection's name must be 1 to 128 letters")(
        yield* failureOf(ProjectionRunner.catchUp(projectionOn("no spaces", target), { stream: s.stream }))
      )
      invalid("batchSize must be a positive integer, got 0")(
        yield* failureOf(ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream, batchSize: 0 }))
      )
      invalid("filter \"a..b\" is not a subject pattern")(
        yield* failureOf(ProjectionRunner.catchUp(projectionOn(s.name, target, { filter: "a..b" }), { stream: s.stream }))
      )
      invalid("pollInterval must be a positive finite duration")(
        yield* failureOf(ProjectionRunner.run(projectionOn(s.name, target), { stream: s.stream, pollInterval: 0 }))
      )
      // a checkpoint of another stream
      const other = yield* seeded(1)
      yield* ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: other.stream })
      invalid(`its checkpoint is on stream ${other.stream}, not ${s.stream}`)(
        yield* failureOf(ProjectionRunner.catchUp(projectionOn(s.name, target), { stream: s.stream }))
      )
      assert.deepStrictEqual(yield* target.rows, once([1]))
    }))
}
