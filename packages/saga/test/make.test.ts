/**
 * `Saga.make` and the engine: concurrency, stale timeouts, identity, bad
 * definitions and bad transitions, on the in-memory transport and store.
 */
import { IdGenerator } from "@herald/identity"
import { MemoryTransport, Wait } from "@herald/testing"
import { DeadLetter, EventLog, Message, Topology, TraceContext } from "@herald/transport"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { Saga, SagaEngine, SagaError, SagaMemory, SagaRunner, SagaStore } from "../src/index.ts"

const Live = SagaMemory.layer.pipe(Layer.provideMerge(MemoryTransport.layer), Layer.merge(IdGenerator.layer))
const advance = { advance: TestClock.adjust, bound: "10 minutes" } as const

const Opened = Message.event("ledger.Opened", Schema.Struct({ account: Schema.String }))
const Credited = Message.event("ledger.Credited", Schema.Struct({ account: Schema.String, amount: Schema.Number }))
const Closed = Message.event("ledger.Closed", Schema.Struct({ account: Schema.String }))
const Reminder = Message.event("ledger.Reminder", Schema.Struct({ account: Schema.String }))
const Notify = Message.command("ledger.Notify", Schema.Struct({ account: Schema.String, total: Schema.Number }))

const State = Schema.Struct({ total: Schema.Number, credits: Schema.Number, reminded: Schema.Number })

// A saga keyed by the account in the payload; each credit yields before it
// decides, so that two credits applied at once both load the same version.
const ledger = Saga.make({
  name: "ledger",
  state: State,
  initial: { total: 0, credits: 0, reminded: 0 },
  on: (on) => [
    on(Opened, (state, opened) =>
      Saga.transition(state, {
        schedule: [Saga.timeout(Reminder, { account: opened.account }, { after: "1 hour" })]
      }), { starts: true, correlate: (p) => p.account }),
    on(Credited, (state, credit) =>
      Effect.as(
        Effect.yieldNow,
        Saga.transition({ ...state, total: state.total + credit.amount, credits: state.credits + 1 }, {
          send: [Saga.send("ledger.cmd.notify", Notify, { account: credit.account, total: state.total + credit.amount })]
        })
      ), { correlate: (p) => p.account }),
    on(Reminder, (state) => Saga.transition({ ...state, reminded: state.reminded + 1 })),
    on(Closed, (state) => Saga.complete(state), { correlate: (p) => p.account })
  ]
})

const topology = Topology.ensure({
  streams: [{ name: "LEDGER", subjects: ["ledger.>"] }, Topology.deadLetterStream()],
  consumers: [{ stream: "LEDGER", name: "ledger", filterSubject: "ledger.evt.>", maxDeliver: 5 }]
})

const load = (id: string) =>
  Effect.map(SagaStore.SagaStore.use((s) => s.load("ledger", id)), Option.getOrThrow)

describe("Saga.make (memory)", () => {
  it.effect("two events of one instance applied at once: both applied, the version advanced twice", () =>
    Effect.gen(function*() {
      const opened = yield* Opened.root({ account: "a-1" })
      yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
      const first = yield* Credited.root({ account: "a-1", amount: 5 })
      const second = yield* Credited.root({ account: "a-1", amount: 7 })
      const outcomes = yield* Effect.all([
        SagaEngine.handle(ledger, first, { subject: "ledger.evt.credited" }),
        SagaEngine.handle(ledger, second, { subject: "ledger.evt.credited" })
      ], { concurrency: "unbounded" })
      assert.deepStrictEqual(outcomes.map((o) => o._tag), ["Applied", "Applied"])
      // one of the two loaded version 1 and lost: it applied again on version 2
      assert.deepStrictEqual(outcomes.map((o) => o._tag === "Applied" ? o.attempts : 0).sort(), [1, 2])
      const instance = yield* load("a-1")
      assert.strictEqual(instance.version, 3)
      assert.deepStrictEqual(instance.state, { total: 12, credits: 2, reminded: 0 })
      const history = yield* SagaStore.SagaStore.use((s) => s.history("ledger", "a-1"))
      assert.deepStrictEqual(history.map((h) => h.version), [1, 2, 3])
    }).pipe(Effect.provide(Live)))

  it.effect("committed transitions are counted in herald.saga.transitions by status before and after; others are not", () =>
    Effect.gen(function*() {
      const opened = yield* Opened.root({ account: "m-1" })
      const source = { subject: "ledger.evt" }
      yield* SagaEngine.handle(ledger, opened, source)
      yield* SagaEngine.handle(ledger, opened, source) // a duplicate: not counted
      for (const amount of [1, 2]) yield* SagaEngine.handle(ledger, yield* Credited.root({ account: "m-1", amount }), source)
      // A credit for an account never opened is ignored: not counted.
      const ignored = yield* SagaEngine.handle(ledger, yield* Credited.root({ account: "m-9", amount: 1 }), source)
      assert.strictEqual(ignored._tag, "Ignored")
      yield* SagaEngine.handle(ledger, yield* Closed.root({ account: "m-1" }), source)
      yield* SagaEngine.handle(ledger, yield* Opened.root({ account: "m-2" }), source)
      const count = (from: string, to: string) =>
        Effect.map(
          Metric.value(Metric.withAttributes(SagaEngine.transitions, {
            "herald.saga.name": "ledger",
            "herald.saga.status.previous": from,
            "herald.saga.status": to
          })),
          (state) => state.count
        )
      assert.deepStrictEqual(
        [yield* count("none", "running"), yield* count("running", "running"), yield* count("running", "completed")],
        [2, 2, 1]
      )
      const all = (yield* Metric.snapshot).filter((m) => m.id === "herald.saga.transitions")
      assert.strictEqual(all.reduce((n, m) => n + (m.state as Metric.CounterState<number>).count, 0), 5)
    }).pipe(Effect.provide(Live), Effect.provideService(Metric.MetricRegistry, new Map())))

  it.effect("conflicts beyond conflictRetries fail with Conflict, retryable, and write nothing", () =>
    Effect.gen(function*() {
      const opened = yield* Opened.root({ account: "a-2" })
      yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
      const credits = yield* Effect.forEach([1, 2, 3], (amount) => Credited.root({ account: "a-2", amount }))
      const exits = yield* Effect.all(
        credits.map((c) => Effect.exit(SagaEngine.handle(ledger, c, { subject: "s" }, { conflictRetries: 0 }))),
        { concurrency: "unbounded" }
      )
      const failed = exits.filter(Exit.isFailure)
      assert.strictEqual(failed.length, 2)
      for (const exit of failed) {
        const error = Exit.isFailure(exit) ? Option.getOrThrow(Exit.findErrorOption(exit)) : undefined
        assert.isTrue(SagaError.isSagaError(error) && error.reason._tag === "Conflict" && error.isRetryable)
      }
      assert.strictEqual((yield* load("a-2")).version, 2)
    }).pipe(Effect.provide(Live)))

  it.effect("outgoing messages derive from the trigger with ids that a retried transition repeats", () =>
    Effect.gen(function*() {
      yield* topology
      const log = yield* EventLog.EventLog
      const opened = yield* Opened.root({ account: "a-3" })
      yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
      const credit = yield* Credited.root({ account: "a-3", amount: 5 })
      yield* SagaEngine.handle(ledger, credit, { subject: "ledger.evt.credited" })
      const [notify] = Array.from(yield* Stream.runCollect(log.read("LEDGER")))
      assert.strictEqual(notify!.envelope.type, Notify.type)
      assert.strictEqual(notify!.envelope.identity.correlationId, credit.identity.correlationId)
      assert.strictEqual(notify!.envelope.identity.causationId, credit.identity.messageId as string)
      // the same trigger applied to a fresh store gives the same message id
      const again = yield* Effect.gen(function*() {
        yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
        yield* SagaEngine.handle(ledger, credit, { subject: "ledger.evt.credited" })
        const history = yield* SagaStore.SagaStore.use((s) => s.history("ledger", "a-3"))
        return history[1]!.outgoing[0]!.messageId
      }).pipe(Effect.provide(SagaMemory.layer))
      assert.strictEqual(again, notify!.envelope.identity.messageId)
    }).pipe(Effect.provide(Live)))

  it.effect("outgoing messages carry the trace context of the span that handles the trigger", () =>
    Effect.gen(function*() {
      yield* topology
      const log = yield* EventLog.EventLog
      const opened = yield* Opened.root({ account: "a-9" })
      yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
      const credit = yield* Credited.root({ account: "a-9", amount: 5 })
      const span = yield* Effect.currentSpan.pipe(
        Effect.tap(() => SagaEngine.handle(ledger, credit, { subject: "ledger.evt.credited" })),
        Effect.withSpan("process credit")
      )
      const [notify] = Array.from(yield* Stream.runCollect(log.read("LEDGER")))
      assert.strictEqual(notify!.envelope.type, Notify.type)
      const parent = Option.getOrThrow(TraceContext.parentOf(notify!.envelope.headers))
      assert.strictEqual(parent.traceId, span.traceId)
      assert.strictEqual(parent.spanId, span.spanId)
    }).pipe(Effect.provide(Live)))

  it.effect("a timeout cancelled after it was found due is stale: ignored and counted", () =>
    Effect.gen(function*() {
      const opened = yield* Opened.root({ account: "a-4" })
      yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
      yield* TestClock.adjust("2 hours")
      const store = yield* SagaStore.SagaStore
      const due = yield* store.due(yield* Clock.currentTimeMillis, 10)
      assert.strictEqual(due.length, 1)
      const closed = yield* Closed.root({ account: "a-4" })
      yield* SagaEngine.handle(ledger, closed, { subject: "ledger.evt.closed" }) // completes, cancels the timeout
      const outcome = yield* SagaEngine.fire(ledger, due[0]!)
      assert.strictEqual(outcome._tag, "Stale")
      assert.deepStrictEqual((yield* load("a-4")).state, { total: 0, credits: 0, reminded: 0 })
      assert.deepStrictEqual(yield* store.timeouts("ledger", "a-4"), [])
    }).pipe(Effect.provide(Live)))

  it.effect("a timeout replaced by a newer one of the same name is stale; the newer one fires once", () =>
    Effect.gen(function*() {
      const opened = yield* Opened.root({ account: "a-5" })
      yield* SagaEngine.handle(ledger, opened, { subject: "ledger.evt.opened" })
      const store = yield* SagaStore.SagaStore
      const [old] = yield* store.timeouts("ledger", "a-5")
      // a second Opened for the same account (another message id) is not a start: it reschedules
      const reopened = yield* Opened.root({ account: "a-5" })
      const outcome = yield* SagaEngine.handle(ledger, reopened, { subject: "ledger.evt.opened" })
      assert.strictEqual(outcome._tag, "Applied")
      const [fresh] = yield* store.timeouts("ledger", "a-5")
      assert.notStrictEqual(fresh!.token, old!.token)
      assert.strictEqual((yield* SagaEngine.fire(ledger, old!))._tag, "Stale")
      assert.strictEqual((yield* SagaEngine.fire(ledger, fresh!))._tag, "Applied")
      assert.strictEqual((yield* SagaEngine.fire(ledger, fresh!))._tag, "Duplicate")
      assert.strictEqual(((yield* load("a-5")).state as { reminded: number }).reminded, 1)
    }).pipe(Effect.provide(Live)))

  it.effect("the runner: a completed instance ignores later messages; its timeouts are gone", () =>
    Effect.gen(function*() {
      yield* topology
      const log = yield* EventLog.EventLog
      const runner = yield* SagaRunner.run(ledger, { stream: "LEDGER", consumer: "ledger" })
      yield* log.append("ledger.evt.opened", yield* Opened.root({ account: "a-6" }))
      yield* log.append("ledger.evt.closed", yield* Closed.root({ account: "a-6" }))
      yield* log.append("ledger.evt.credited", yield* Credited.root({ account: "a-6", amount: 1 }))
      yield* Wait.until(runner.stats, (s) => s.consumer.acked === 3, "three acked", advance)
      yield* TestClock.adjust("2 hours")
      const stats = yield* runner.stats
      assert.strictEqual(stats.applied, 2)
      assert.strictEqual(stats.ignored, 1)
      assert.strictEqual(stats.timeoutsFired, 0)
      const instance = yield* load("a-6")
      assert.strictEqual(instance.status, "completed")
      assert.deepStrictEqual(instance.state, { total: 0, credits: 0, reminded: 0 })
    }).pipe(Effect.provide(Live)))

  it.effect("the runner dead-letters what it cannot apply, with the reason: a bad payload, an invalid subject", () =>
    Effect.gen(function*() {
      yield* topology
      const log = yield* EventLog.EventLog
      const badSubject = Saga.make({
        name: "bad",
        state: Schema.Struct({}),
        initial: {},
        on: (on) => [on(Opened, (s) => Saga.transition(s, { send: [Saga.send("no spaces allowed", Notify, { account: "x", total: 0 })] }), { starts: true })]
      })
      const runner = yield* SagaRunner.run(badSubject, { stream: "LEDGER", consumer: "ledger" })
      const opened = yield* Opened.root({ account: "a-7" })
      yield* log.append("ledger.evt.opened", opened)
      const malformed = { ...(yield* Opened.root({ account: "a-8" })), body: new TextEncoder().encode("{\"account\":1}") }
      yield* log.append("ledger.evt.opened", malformed)
      yield* Wait.until(runner.stats, (s) => s.consumer.deadLettered === 2, "both dead-lettered", advance)
      const letters = Array.from(yield* Stream.runCollect(log.readRaw("HERALD_DLQ")))
      const reasons = letters.map((l) => DeadLetter.parse(l.raw)?.reason ?? "")
      assert.match(reasons[0]!, /invalid transition: ledger\.Notify: "no spaces allowed" is not a subject/)
      assert.match(reasons[1]!, /ledger\.Opened/)
      assert.strictEqual(Option.isNone(yield* SagaStore.SagaStore.use((s) => s.load("bad", "x"))), true)
    }).pipe(Effect.provide(Live)))

  it.effect("a definition that cannot work is refused before the runner starts", () =>
    Effect.gen(function*() {
      const twice = Saga.make({
        name: "twice",
        state: Schema.Struct({}),
        initial: {},
        on: (on) => [on(Opened, (s) => Saga.transition(s), { starts: true }), on(Opened, (s) => Saga.transition(s))]
      })
      const noStart = Saga.make({
        name: "no start",
        state: Schema.Struct({}),
        initial: {},
        on: (on) => [on(Opened, (s) => Saga.transition(s))]
      })
      for (const [saga, expected] of [
        [twice, "saga twice: two handlers for ledger.Opened"],
        [noStart, `saga no start: a saga's name must be 1 to 128 letters, digits or "_-.:", got "no start"; no handler starts an instance ({ starts: true })`]
      ] as const) {
        const exit = yield* Effect.exit(Effect.scoped(SagaRunner.run(saga, { stream: "LEDGER", consumer: "ledger" })))
        const error = Option.getOrThrow(Exit.findErrorOption(exit))
        assert.isTrue(SagaError.isSagaError(error))
        assert.strictEqual((error as SagaError.SagaError).message, `invalid saga configuration: ${expected}`)
      }
      const badOptions = yield* Effect.exit(
        Effect.scoped(SagaRunner.run(ledger, { stream: "LEDGER", consumer: "ledger", concurrency: 0 }))
      )
      assert.strictEqual(
        (Option.getOrThrow(Exit.findErrorOption(badOptions)) as SagaError.SagaError).message,
        "invalid saga configuration: concurrency must be a positive integer, got 0"
      )
    }).pipe(Effect.provide(Live)))
})
