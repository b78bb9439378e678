/**
 * State projections and snapshots, run on any transport with any snapshot
 * store: a full fold, snapshot + catch-up equal to a full replay (a property
 * over random streams and snapshot points), and every snapshot that does
 * not fit its stream refused with a typed error, nothing folded.
 */
import { assert } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"
import { ReplayError, Snapshot, StateProjection } from "../src/index.ts"

export interface Harness {
  /** Runs one test (with the transport and a snapshot store provided). */
  readonly test: (
    name: string,
    body: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | Snapshot.SnapshotStore | Scope.Scope>,
    timeout?: number
  ) => void
  /** Cases of the property. */
  readonly runs: number
}

let streams = 0
const unique = () => {
  const n = ++streams
  return { stream: `SNAP${n}`, prefix: `snap${n}`, name: `totals-${n}` }
}

const State = Schema.Struct({
  count: Schema.Number,
  total: Schema.BigInt,
  last: Schema.Array(Schema.Number),
  sequences: Schema.Array(Schema.Number)
})
type State = typeof State.Type

const initial: State = { count: 0, total: 0n, last: [], sequences: [] }

const decoder = new TextDecoder()
const valueOf = (m: EventLog.StoredMessage): number => (JSON.parse(decoder.decode(m.envelope.body)) as { n: number }).n

/** A projection sensitive to the order and the set of messages folded; `calls` counts `evolve`. */
const totals = (name: string, options?: { readonly filter?: string; readonly effectful?: boolean }) => {
  const calls = { n: 0 }
  const evolve = (s: State, m: EventLog.StoredMessage): State => {
    calls.n++
    const n = valueOf(m)
    return {
      count: s.count + 1,
      total: s.total + BigInt(n),
      last: [...s.last, n].slice(-3),
      sequences: [...s.sequences, m.sequence]
    }
  }
  const projection = StateProjection.make({
    name,
    state: State,
    initial,
    filter: options?.filter,
    evolve: options?.effectful === true ? (s, m) => Effect.sync(() => evolve(s, m)) : evolve
  })
  return { projection, calls }
}

/** What `totals` folds from these (sequence, value) pairs. */
const expected = (pairs: ReadonlyArray<readonly [number, number]>): State =>
  pairs.reduce<State>((s, [sequence, n]) => ({
    count: s.count + 1,
    total: s.total + BigInt(n),
    last: [...s.last, n].slice(-3),
    sequences: [...s.sequences, sequence]
  }), initial)

const failureOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(self), (exit) => {
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.isTrue(ReplayError.isReplayError(error), `expected a ReplayError, got ${String(error)}`)
    return (error as ReplayError.ReplayError).reason
  })

export const snapshotSuite = (harness: Harness) => {
  const { test } = harness

  /** A stream with messages valued `values`, on `<prefix>.a` (odd sequences) and `<prefix>.b` (even ones). */
  const seeded = (values: ReadonlyArray<number>, config?: Partial<Topology.StreamConfig>) =>
    Effect.gen(function*() {
      const names = unique()
      yield* Topology.ensure({ streams: [{ name: names.stream, subjects: [`${names.prefix}.>`], ...config }] })
      let id = 0
      const append = (more: ReadonlyArray<number>) =>
        EventLog.EventLog.use((log) =>
          Effect.forEach(more, (n) =>
            Effect.suspend(() => {
              id++
              return log.append(
                id % 2 === 1 ? `${names.prefix}.a` : `${names.prefix}.b`,
                Fixtures.envelope({ identity: id, type: "test.Valued", payload: { n } })
              )
            }), { discard: true })
        )
      yield* append(values)
      return { ...names, append }
    })

  test("StateProjection.replay folds the whole stream; sequence is the last one covered", () =>
    Effect.gen(function*() {
      const { name, stream } = yield* seeded([5, 7, 11, 13])
      const { calls, projection } = totals(name)
      const folded = yield* StateProjection.replay(projection, stream)
      assert.deepStrictEqual(folded, { state: expected([[1, 5], [2, 7], [3, 11], [4, 13]]), sequence: 4 })
      assert.strictEqual(calls.n, 4)
      const range = yield* StateProjection.replay(projection, stream, { from: 2, to: 3 })
      assert.deepStrictEqual(range, { state: expected([[2, 7], [3, 11]]), sequence: 3 })
      const continued = yield* StateProjection.foldFrom(projection, stream, expected([[1, 5], [2, 7]]), 2)
      assert.deepStrictEqual(continued, folded)
      const badAfter = yield* failureOf(StateProjection.foldFrom(projection, stream, initial, -1))
      assert.strictEqual(badAfter.message, "invalid replay configuration: after must be a non-negative integer sequence, got -1")
    }))

  test("StateProjection.replay: a filter folds its subjects only and still covers every sequence; evolve may be an effect", () =>
    Effect.gen(function*() {
      const { name, prefix, stream } = yield* seeded([1, 2, 3, 4, 5])
      const { calls, projection } = totals(name, { filter: `${prefix}.b`, effectful: true })
      const folded = yield* StateProjection.replay(projection, stream)
      assert.deepStrictEqual(folded, { state: expected([[2, 2], [4, 4]]), sequence: 5 })
      assert.strictEqual(calls.n, 2)
    }))

  test("StateProjection.replay on an empty stream: the initial state at sequence 0", () =>
    Effect.gen(function*() {
      const { name, stream } = yield* seeded([])
      const { projection } = totals(name)
      assert.deepStrictEqual(yield* StateProjection.replay(projection, stream), { state: initial, sequence: 0 })
    }))

  test("a bad definition or range is an InvalidConfig, nothing folded", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded([1])
      const bad = totals("no spaces allowed")
      const reason = yield* failureOf(StateProjection.replay(bad.projection, stream))
      assert.strictEqual(reason._tag, "InvalidConfig")
      assert.strictEqual(
        reason.message,
        `invalid replay configuration: projection no spaces allowed: a projection's name must be 1 to 128 letters, digits or "_-.:", got "no spaces allowed"`
      )
      const badTake = yield* failureOf(Snapshot.take(bad.projection, stream))
      assert.strictEqual(badTake._tag, "InvalidConfig")
      const good = totals(unique().name)
      const from0 = yield* failureOf(StateProjection.replay(good.projection, stream, { from: 0 }))
      assert.strictEqual(from0.message, "invalid replay configuration: from must be a positive integer sequence, got 0")
      const atPast = yield* failureOf(Snapshot.take(good.projection, stream, { at: 2 }))
      assert.strictEqual(atPast.message, `invalid replay configuration: at 2 is beyond the last sequence of ${stream} (1)`)
      const atNegative = yield* failureOf(Snapshot.take(good.projection, stream, { at: -1 }))
      assert.strictEqual(atNegative.message, "invalid replay configuration: at must be a non-negative integer, got -1")
      assert.strictEqual(bad.calls.n + good.calls.n, 0)
      assert.deepStrictEqual(yield* Snapshot.SnapshotStore.use((s) => s.list(good.projection.name)), [])
    }))

  test("take saves the state with the sequence it covers, encoded by the Schema; restore with no later messages folds nothing", () =>
    Effect.gen(function*() {
      const { name, stream } = yield* seeded([3, 4, 5])
      const { calls, projection } = totals(name)
      const before = yield* Clock.currentTimeMillis
      const taken = yield* Snapshot.take(projection, stream)
      const after = yield* Clock.currentTimeMillis
      assert.deepStrictEqual({ ...taken, at: 0 }, {
        name,
        stream,
        sequence: 3,
        state: expected([[1, 3], [2, 4], [3, 5]]),
        at: 0
      })
      assert.isTrue(taken.at >= before && taken.at <= after)
      const stored = yield* Snapshot.SnapshotStore.use((s) => s.latest(name))
      assert.deepStrictEqual(stored, Option.some({
        name,
        stream,
        sequence: 3,
        state: { count: 3, total: "12", last: [3, 4, 5], sequences: [1, 2, 3] },
        at: taken.at
      }))
      calls.n = 0
      const restored = yield* Snapshot.restore(projection, stream)
      assert.deepStrictEqual(restored, { state: taken.state, sequence: 3, snapshot: 3 })
      assert.strictEqual(calls.n, 0)
    }))

  test("take at a sequence, then restore: the snapshot, then the messages after it up to the head, as one operation", () =>
    Effect.gen(function*() {
      const { append, name, stream } = yield* seeded([10, 20, 30, 40])
      const { calls, projection } = totals(name)
      const taken = yield* Snapshot.take(projection, stream, { at: 2 })
      assert.deepStrictEqual([taken.sequence, taken.state], [2, expected([[1, 10], [2, 20]])])
      assert.strictEqual(calls.n, 2)
      yield* append([50])
      calls.n = 0
      const restored = yield* Snapshot.restore(projection, stream)
      assert.deepStrictEqual(restored, {
        state: expected([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]),
        sequence: 5,
        snapshot: 2
      })
      assert.strictEqual(calls.n, 3)
      // a later take starts from the stored snapshot: only 3..5 are folded
      calls.n = 0
      const next = yield* Snapshot.take(projection, stream)
      assert.deepStrictEqual([next.sequence, next.state], [5, restored.state])
      assert.strictEqual(calls.n, 3)
      // rebuild: from the start, whatever is stored
      calls.n = 0
      const rebuilt = yield* Snapshot.take(projection, stream, { rebuild: true })
      assert.deepStrictEqual([rebuilt.sequence, rebuilt.state], [5, restored.state])
      assert.strictEqual(calls.n, 5)
      const sequences = (yield* Snapshot.SnapshotStore.use((s) => s.list(name))).map((s) => s.sequence)
      assert.deepStrictEqual(sequences, [5, 2])
    }))

  test("restore with no snapshot is a full replay", () =>
    Effect.gen(function*() {
      const { name, stream } = yield* seeded([2, 3, 5, 7, 11, 13])
      const { calls, projection } = totals(name)
      const restored = yield* Snapshot.restore(projection, stream)
      const full = yield* StateProjection.replay(projection, stream)
      assert.deepStrictEqual(restored, { ...full, snapshot: undefined })
      assert.deepStrictEqual(full, {
        state: expected([[1, 2], [2, 3], [3, 5], [4, 7], [5, 11], [6, 13]]),
        sequence: 6
      })
      assert.strictEqual(calls.n, 12)
    }))

  test("property: a snapshot at a random sequence + catch-up equals a full replay", () =>
    Effect.gen(function*() {
      const context = yield* Effect.context<EventLog.EventLog | Topology.Topology | Snapshot.SnapshotStore>()
      const values = fc.array(fc.integer({ min: -1_000_000, max: 1_000_000 }), { maxLength: 25 })
      const property = fc.asyncProperty(
        values,
        values,
        fc.nat(),
        fc.boolean(),
        (before, later, pick, filtered) =>
          Effect.runPromiseWith(context)(Effect.gen(function*() {
            const { append, name, prefix, stream } = yield* seeded(before)
            const at = pick % (before.length + 1)
            const { projection } = totals(name, filtered ? { filter: `${prefix}.a` } : undefined)
            const taken = yield* Snapshot.take(projection, stream, { at })
            assert.strictEqual(taken.sequence, at)
            yield* append(later)
            const restored = yield* Snapshot.restore(projection, stream)
            const full = yield* StateProjection.replay(projection, stream)
            assert.deepStrictEqual(restored, { ...full, snapshot: at })
            const all = [...before, ...later].map((n, i) => [i + 1, n] as const)
            assert.deepStrictEqual(full, {
              state: expected(filtered ? all.filter(([sequence]) => sequence % 2 === 1) : all),
              sequence: all.length
            })
          }))
      )
      yield* Effect.promise(() => fc.assert(property, { numRuns: harness.runs, seed: 20_260_101 }))
    }), 120_000)

  test("a snapshot beyond the stream's last sequence (the stream was recreated) is CheckpointBeyondEnd, nothing folded", () =>
    Effect.gen(function*() {
      const { name, prefix, stream } = yield* seeded([1, 2, 3, 4, 5])
      const { calls, projection } = totals(name)
      yield* Snapshot.take(projection, stream)
      yield* Topology.Topology.use((t) => t.deleteStream(stream))
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }] })
      yield* EventLog.EventLog.use((log) =>
        Effect.forEach([1, 2, 3], (n) =>
          log.append(`${prefix}.a`, Fixtures.envelope({ identity: 100 + n, type: "test.Valued", payload: { n } })), {
          discard: true
        })
      )
      calls.n = 0
      const reason = yield* failureOf(Snapshot.restore(projection, stream))
      assert.strictEqual(reason._tag, "CheckpointBeyondEnd")
      const beyond = reason as ReplayError.CheckpointBeyondEnd
      assert.deepStrictEqual(
        [beyond.projection, beyond.stream, beyond.checkpoint, beyond.lastSequence],
        [name, stream, 5, 3]
      )
      const takeBeyond = yield* failureOf(Snapshot.take(projection, stream))
      assert.deepStrictEqual(
        [takeBeyond._tag, (takeBeyond as ReplayError.CheckpointBeyondEnd).checkpoint],
        ["CheckpointBeyondEnd", 5]
      )
      assert.strictEqual(calls.n, 0)
      // once the snapshot past the end is removed, the projection starts over
      assert.strictEqual(yield* Snapshot.SnapshotStore.use((s) => s.remove(name, 5)), true)
      const restored = yield* Snapshot.restore(projection, stream)
      assert.deepStrictEqual(restored, { state: expected([[1, 1], [2, 2], [3, 3]]), sequence: 3, snapshot: undefined })
    }))

  test("a snapshot whose next messages are purged is CheckpointPurged, nothing folded; right before the first kept one it restores", () =>
    Effect.gen(function*() {
      const { append, name, stream } = yield* seeded([1, 2, 3], { maxMessages: 4 })
      const { calls, projection } = totals(name)
      yield* Snapshot.take(projection, stream)
      yield* append([4, 5, 6, 7, 8, 9, 10]) // keeps 7..10
      calls.n = 0
      const reason = yield* failureOf(Snapshot.restore(projection, stream))
      assert.strictEqual(reason._tag, "CheckpointPurged")
      const purged = reason as ReplayError.CheckpointPurged
      assert.deepStrictEqual(
        [purged.projection, purged.stream, purged.checkpoint, purged.firstSequence],
        [name, stream, 3, 7]
      )
      assert.strictEqual(
        purged.message,
        `projection ${name}: the messages after checkpoint 3 are purged from ${stream} (its first kept sequence is 7); rebuild it`
      )
      assert.strictEqual(calls.n, 0)
      // with no snapshot, a stream that no longer keeps sequence 1 is CheckpointPurged at 0
      const fresh = totals(unique().name)
      const fromStart = yield* failureOf(Snapshot.restore(fresh.projection, stream))
      assert.deepStrictEqual(
        [fromStart._tag, (fromStart as ReplayError.CheckpointPurged).checkpoint, (fromStart as ReplayError.CheckpointPurged).firstSequence],
        ["CheckpointPurged", 0, 7]
      )
      const replayed = yield* failureOf(StateProjection.replay(fresh.projection, stream, { from: 5 }))
      assert.deepStrictEqual(
        [replayed._tag, (replayed as ReplayError.CheckpointPurged).checkpoint, (replayed as ReplayError.CheckpointPurged).firstSequence],
        ["CheckpointPurged", 4, 7]
      )
      assert.strictEqual(fresh.calls.n, 0)
      // a snapshot at 6, right before the first kept sequence: restored, 7..10 folded
      const six = { count: 6, total: "21", last: [4, 5, 6], sequences: [1, 2, 3, 4, 5, 6] }
      yield* Snapshot.SnapshotStore.use((s) => s.save(name, { stream, sequence: 6, state: six, at: 0 }))
      const restored = yield* Snapshot.restore(projection, stream)
      assert.deepStrictEqual(restored, {
        state: expected([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [8, 8], [9, 9], [10, 10]]),
        sequence: 10,
        snapshot: 6
      })
      assert.strictEqual(calls.n, 4)
      // and a snapshot can still be taken, from the stored one
      const taken = yield* Snapshot.take(projection, stream)
      assert.deepStrictEqual([taken.sequence, taken.state], [10, restored.state])
    }))

  test("a stored state that the Schema does not decode is CorruptState, nothing folded", () =>
    Effect.gen(function*() {
      const { name, stream } = yield* seeded([1, 2])
      const { calls, projection } = totals(name)
      yield* Snapshot.SnapshotStore.use((s) =>
        s.save(name, { stream, sequence: 1, state: { count: "one", total: "1", last: [1], sequences: [1] }, at: 0 })
      )
      const reason = yield* failureOf(Snapshot.restore(projection, stream))
      assert.strictEqual(reason._tag, "CorruptState")
      assert.strictEqual((reason as ReplayError.CorruptState).projection, name)
      assert.isTrue(
        reason.message.startsWith(`projection ${name}: the stored state does not decode: snapshot at sequence 1 of ${stream}: `),
        reason.message
      )
      const notBigInt = yield* Effect.flatMap(
        Snapshot.SnapshotStore.use((s) =>
          s.save(name, { stream, sequence: 2, state: { count: 1, total: "x", last: [], sequences: [] }, at: 0 })
        ),
        () => failureOf(Snapshot.restore(projection, stream))
      )
      assert.strictEqual(notBigInt._tag, "CorruptState")
      assert.strictEqual(calls.n, 0)
    }))

  test("the latest snapshot of another stream is an InvalidConfig", () =>
    Effect.gen(function*() {
      const one = yield* seeded([1])
      const other = yield* seeded([1])
      const { projection } = totals(one.name)
      yield* Snapshot.take(projection, one.stream)
      const reason = yield* failureOf(Snapshot.restore(projection, other.stream))
      assert.strictEqual(
        reason.message,
        `invalid replay configuration: projection ${one.name}: the latest snapshot (sequence 1) is of stream ${one.stream}, not ${other.stream}`
      )
    }))
}
