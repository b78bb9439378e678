/**
 * Bounded replays, run on any transport: exact boundaries by sequence and
 * time, filters, empty ranges, purged prefixes and holes, bad input, flows
 * found by scanning a window.
 */
import { assert } from "@effect/vitest"
import { Fixtures } from "@herald/testing"
import { EventLog, Topology } from "@herald/transport"
import type { MessageIdentity } from "@herald/identity"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Replay, ReplayError } from "../src/index.ts"

export interface Harness {
  /** Lets a millisecond or more pass between appends, so that timestamps differ. */
  readonly tick: Effect.Effect<void>
  /** Runs one test (with the layer provided). */
  readonly test: (
    name: string,
    body: () => Effect.Effect<void, unknown, EventLog.EventLog | Topology.Topology | Scope.Scope>
  ) => void
}

let streams = 0
const unique = () => {
  const n = ++streams
  return { stream: `REPLAY${n}`, prefix: `replay${n}` }
}

const append = (subject: string, n: number, identity?: MessageIdentity.MessageIdentity) =>
  EventLog.EventLog.use((log) =>
    log.append(subject, Fixtures.envelope({ identity: identity ?? n, type: "test.Numbered", payload: { n } }))
  )

const sequences = (replay: Replay.Replay) =>
  Effect.map(Stream.runCollect(replay.messages), (all) => Array.from(all).map((m) => m.sequence))

const events = (replay: Replay.Replay) =>
  Effect.map(Stream.runCollect(replay.events), (all) =>
    Array.from(all).map((e) => e._tag === "Gap" ? `gap ${e.from}-${e.to}` : `${e.message.sequence}`))

const refused = <A, E, R>(self: Effect.Effect<A, E, R>, detail: string) =>
  Effect.map(Effect.exit(self), (exit) => {
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.isTrue(ReplayError.isReplayError(error), `expected a ReplayError, got ${String(error)}`)
    assert.strictEqual((error as ReplayError.ReplayError).message, `invalid replay configuration: ${detail}`)
  })

export const replaySuite = (harness: Harness) => {
  const { test } = harness

  /** A stream of `count` messages, odd ones on `<prefix>.a`, even ones on `<prefix>.b`. */
  const seeded = (count: number, config?: Partial<Topology.StreamConfig>) =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], ...config }] })
      for (let n = 1; n <= count; n++) {
        yield* append(n % 2 === 1 ? `${prefix}.a` : `${prefix}.b`, n)
        yield* harness.tick
      }
      return { prefix, stream }
    })

  test("bySequence: from and to are inclusive; progress ends at total, finished", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(10)
      const replay = yield* Replay.bySequence(stream, { from: 3, to: 7 })
      assert.deepStrictEqual([replay.from, replay.to, replay.total], [3, 7, 5])
      assert.deepStrictEqual(replay.purged, [])
      const progress = yield* Effect.forkChild(Stream.runCollect(replay.progress))
      assert.deepStrictEqual(yield* sequences(replay), [3, 4, 5, 6, 7])
      const seen = Array.from(yield* Fiber.join(progress))
      const last = seen[seen.length - 1]!
      assert.deepStrictEqual([last.done, last.total, last.messages, last.finished], [5, 5, 5, true])
      assert.isTrue(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done))
    }))

  test("bySequence without to ends at the last sequence when it was made, never waits for more", () =>
    Effect.gen(function*() {
      const { prefix, stream } = yield* seeded(10)
      const replay = yield* Replay.bySequence(stream, {})
      yield* append(`${prefix}.a`, 11)
      yield* append(`${prefix}.a`, 12)
      assert.deepStrictEqual([replay.from, replay.to], [1, 10])
      assert.deepStrictEqual(yield* sequences(replay), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }))

  test("a filter keeps its subjects; a filtered replay reports no holes of its own", () =>
    Effect.gen(function*() {
      const { prefix, stream } = yield* seeded(10)
      const replay = yield* Replay.bySequence(stream, { from: 2, to: 9, filter: `${prefix}.a` })
      assert.deepStrictEqual(yield* events(replay), ["3", "5", "7", "9"])
      const wildcard = yield* Replay.bySequence(stream, { filter: `${prefix}.*` })
      assert.strictEqual((yield* sequences(wildcard)).length, 10)
    }))

  test("an empty range: past the end, or to = from - 1", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(4)
      for (const options of [{ from: 5 }, { from: 50, to: 60 }, { from: 3, to: 2 }]) {
        const replay = yield* Replay.bySequence(stream, options)
        assert.strictEqual(replay.total, 0)
        assert.deepStrictEqual(yield* events(replay), [])
        assert.deepStrictEqual(replay.purged, [])
      }
      const { stream: empty } = yield* seeded(0)
      const none = yield* Replay.bySequence(empty, {})
      assert.deepStrictEqual([none.from, none.to, none.total], [1, 0, 0])
      assert.deepStrictEqual(yield* events(none), [])
    }))

  test("a range that starts in a purged part: the purged sequences reported first, then the kept ones", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(10, { maxMessages: 4 })
      const replay = yield* Replay.bySequence(stream, { from: 2 })
      assert.deepStrictEqual(replay.purged, [{ from: 2, to: 6 }])
      assert.strictEqual(replay.total, 9)
      assert.deepStrictEqual(yield* events(replay), ["gap 2-6", "7", "8", "9", "10"])
      const within = yield* Replay.bySequence(stream, { from: 1, to: 3 })
      assert.deepStrictEqual(yield* events(within), ["gap 1-3"])
    }))

  test("holes between kept messages are reported where they are", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`], maxMessagesPerSubject: 1 }] })
      // 1: a, 2: b, 3: b (drops 2), 4: c, 5: c (drops 4), 6: d
      for (const [n, s] of [[1, "a"], [2, "b"], [3, "b"], [4, "c"], [5, "c"], [6, "d"]] as const) {
        yield* append(`${prefix}.${s}`, n)
      }
      const replay = yield* Replay.bySequence(stream, {})
      assert.deepStrictEqual(yield* events(replay), ["1", "gap 2-2", "3", "gap 4-4", "5", "6"])
    }))

  test("byTime: the first message at or after from, the last at or before to", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(10)
      const log = yield* EventLog.EventLog
      const all = Array.from(yield* Stream.runCollect(log.read(stream)))
      const at = (sequence: number) => all[sequence - 1]!.timestamp
      const replay = yield* Replay.byTime(stream, { from: at(4), to: at(7) })
      assert.deepStrictEqual([replay.from, replay.to], [4, 7])
      assert.deepStrictEqual(yield* sequences(replay), [4, 5, 6, 7])
      // between two timestamps: the next message on, the previous one back
      const between = yield* Replay.byTime(stream, { from: at(3) + 1, to: new Date(at(8)) })
      assert.deepStrictEqual(yield* sequences(between), [4, 5, 6, 7, 8])
      const open = yield* Replay.byTime(stream, { from: at(9) })
      assert.deepStrictEqual(yield* sequences(open), [9, 10])
      const after = yield* Replay.byTime(stream, { from: at(10) + 60_000 })
      assert.strictEqual(after.total, 0)
      assert.deepStrictEqual(yield* sequences(after), [])
    }))

  test("bad ranges and paces are refused with InvalidConfig before anything is read", () =>
    Effect.gen(function*() {
      const { stream } = yield* seeded(2)
      yield* refused(Replay.bySequence(stream, { from: 0 }), "from must be a positive integer sequence, got 0")
      yield* refused(Replay.bySequence(stream, { from: 1.5 }), "from must be a positive integer sequence, got 1.5")
      yield* refused(
        Replay.bySequence(stream, { from: 5, to: 3 }),
        "to must be an integer sequence no lower than from - 1 (4), got 3"
      )
      yield* refused(
        Replay.bySequence(stream, { from: 1, pace: { speed: 0 } }),
        "pace.speed must be a positive number, got 0"
      )
      yield* refused(
        Replay.bySequence(stream, { from: 1, pace: { perSecond: Number.NaN } }),
        "pace.perSecond must be a positive number, got NaN"
      )
      yield* refused(Replay.byTime(stream, { from: 10, to: 5 }), "to must be a time no earlier than from, got 5")
      const missing = yield* Effect.exit(Replay.bySequence("NO_SUCH_STREAM", {}))
      assert.isTrue(Exit.isFailure(missing))
    }))

  test("scanCorrelation: one flow among unrelated messages, parents before children", () =>
    Effect.gen(function*() {
      const { prefix, stream } = unique()
      yield* Topology.ensure({ streams: [{ name: stream, subjects: [`${prefix}.>`] }] })
      const root = Fixtures.root(1)
      const child = (parent: MessageIdentity.MessageIdentity, n: number) => Fixtures.derived(parent, n)
      const a = child(root, 2)
      const b = child(root, 3)
      const a1 = child(a, 4)
      let noise = 1000
      // children stored before their parents, unrelated messages between
      for (const identity of [a1, b, a, root]) {
        yield* append(`${prefix}.noise`, noise, Fixtures.root(noise++))
        yield* append(`${prefix}.flow`, 0, identity)
      }
      const flow = yield* Replay.scanCorrelation(stream, root.correlationId, {})
      assert.deepStrictEqual(
        flow.messages.map((m) => m.envelope.identity.messageId),
        // b (sequence 4) before a (sequence 6): ties go by stream sequence
        [root.messageId, b.messageId, a.messageId, a1.messageId].map(String)
      )
      assert.deepStrictEqual(flow.orphans, [])
      assert.deepStrictEqual(flow.cycles, [])
    }))
}
