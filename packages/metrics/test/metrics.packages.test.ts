/**
 * Herald's metrics counted by other packages (the inbox's skipped
 * duplicates, the saga engine's transitions, the saga instances by status
 * read from the store at scrape time) in the same registry as the layer's,
 * scraped over HTTP with exact values.
 */
import { assert, describe, it } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { Inbox, InboxMemory } from "@herald/inbox"
import { Saga, SagaEngine, SagaMemory, SagaMetrics, SagaStore } from "@herald/saga"
import { Fixtures, MemoryTransport, Wait } from "@herald/testing"
import { EventLog, Message, Topology } from "@herald/transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { Metrics, MetricsHttp, Semconv } from "../src/index.ts"
import { scrape, select, total } from "./workload.ts"

const Opened = Message.event("ledger.Opened", Schema.Struct({ account: Schema.String }))
const Closed = Message.event("ledger.Closed", Schema.Struct({ account: Schema.String }))

const ledger = Saga.make({
  name: "ledger",
  state: Schema.Struct({ open: Schema.Boolean }),
  initial: { open: true },
  on: (on) => [
    on(Opened, (state) => Saga.transition(state), { starts: true, correlate: (p) => p.account }),
    on(Closed, (state) => Saga.complete({ ...state, open: false }), { correlate: (p) => p.account })
  ]
})

const env = MetricsHttp.layer({ port: 0, host: "127.0.0.1" }).pipe(
  Layer.provideMerge(Metrics.layer({ refreshInterval: "none" })),
  Layer.provideMerge(
    Layer.mergeAll(InboxMemory.layer, SagaMemory.layer, IdGenerator.layer).pipe(Layer.provideMerge(MemoryTransport.layer))
  ),
  Layer.provideMerge(Layer.sync(Metric.MetricRegistry)(() => new Map()))
)

const sagaEnv = (refresh: ReadonlyArray<MetricsHttp.Refresher<SagaStore.SagaStore>>, refreshTimeout?: Duration.Input) =>
  MetricsHttp.layer({ port: 0, host: "127.0.0.1", refresh, refreshTimeout }).pipe(
    Layer.provideMerge(Metrics.layer({ refreshInterval: "none" })),
    Layer.provideMerge(Layer.mergeAll(SagaMemory.layer, IdGenerator.layer).pipe(Layer.provideMerge(MemoryTransport.layer))),
    Layer.provideMerge(Layer.sync(Metric.MetricRegistry)(() => new Map()))
  )

/** A transition of another saga, committed to the store directly. */
const commitRefund = (id: string, expectedVersion: number, status: SagaStore.Status, n: number) =>
  Effect.flatMap(Effect.service(SagaStore.SagaStore), (store) =>
    store.commit({
      saga: "refund",
      id,
      expectedVersion,
      status,
      state: {},
      failure: undefined,
      now: n,
      trigger: { messageId: `refund-${n}`, type: "test.Refund", subject: "refund.x", stream: undefined, streamSequence: undefined },
      outgoing: [],
      cancel: [],
      schedule: [],
      fired: undefined
    })).pipe(Effect.map((r) => assert.strictEqual(r, "committed")))

/** Every `herald_saga_instances` sample, as `saga status value`, sorted. */
const instanceSamples = (samples: ReadonlyArray<{ readonly labels: Readonly<Record<string, string>>; readonly value: number }>) =>
  samples.map((s) => `${s.labels.herald_saga_name} ${s.labels.herald_saga_status} ${s.value}`).sort()

describe("metrics of the inbox and the saga engine", () => {
  it("their names are the ones Semconv lists", () => {
    assert.strictEqual(Inbox.duplicates.id, Semconv.Metrics.inboxDuplicates)
    assert.strictEqual(SagaEngine.transitions.id, Semconv.Metrics.sagaTransitions)
    assert.strictEqual(SagaMetrics.instances.id, Semconv.Metrics.sagaInstances)
  })

  it.effect("saga instances by status, read from the store at each scrape, with exact values", () =>
    Effect.gen(function*() {
      const scrapeInstances = Effect.map(scrape, ({ samples }) => instanceSamples(select(samples, "herald_saga_instances")))
      // Nothing stored: no series yet.
      assert.deepStrictEqual(yield* scrapeInstances, [])

      for (const account of ["a-1", "a-2", "a-3"]) {
        yield* SagaEngine.handle(ledger, yield* Opened.root({ account }), { subject: "ledger.evt.opened" })
      }
      yield* SagaEngine.handle(ledger, yield* Closed.root({ account: "a-2" }), { subject: "ledger.evt.closed" })
      yield* commitRefund("r-1", 0, "compensating", 1)
      yield* commitRefund("r-2", 0, "compensating", 2)
      yield* commitRefund("r-3", 0, "compensation-failed", 3)
      assert.deepStrictEqual(yield* scrapeInstances, [
        "ledger compensated 0",
        "ledger compensating 0",
        "ledger compensation-failed 0",
        "ledger completed 1",
        "ledger running 2",
        "refund compensated 0",
        "refund compensating 2",
        "refund compensation-failed 1",
        "refund completed 0",
        "refund running 0"
      ])

      // Statuses change: a status left with no instance reads 0.
      yield* SagaEngine.handle(ledger, yield* Closed.root({ account: "a-1" }), { subject: "ledger.evt.closed" })
      yield* SagaEngine.handle(ledger, yield* Closed.root({ account: "a-3" }), { subject: "ledger.evt.closed" })
      yield* commitRefund("r-1", 1, "compensated", 4)
      yield* commitRefund("r-2", 1, "compensated", 5)
      assert.deepStrictEqual(yield* scrapeInstances, [
        "ledger compensated 0",
        "ledger compensating 0",
        "ledger compensation-failed 0",
        "ledger completed 3",
        "ledger running 0",
        "refund compensated 2",
        "refund compensating 0",
        "refund compensation-failed 1",
        "refund completed 0",
        "refund running 0"
      ])

      // Every instance deleted: the sagas are gone from the store, and every series reads 0.
      const store = yield* SagaStore.SagaStore
      assert.strictEqual(yield* store.deleteFinished(Number.MAX_SAFE_INTEGER), 6)
      assert.deepStrictEqual(yield* store.counts(), [])
      assert.deepStrictEqual(yield* scrapeInstances, [
        "ledger compensated 0",
        "ledger compensating 0",
        "ledger compensation-failed 0",
        "ledger completed 0",
        "ledger running 0",
        "refund compensated 0",
        "refund compensating 0",
        "refund compensation-failed 0",
        "refund completed 0",
        "refund running 0"
      ])
    }).pipe(Effect.provide(sagaEnv([SagaMetrics.refresh]))))

  it.effect("a refresher that fails does not fail the scrape: the other refreshers run and every metric is served", () =>
    Effect.gen(function*() {
      yield* SagaEngine.handle(ledger, yield* Opened.root({ account: "a-1" }), { subject: "ledger.evt.opened" })
      const { samples } = yield* scrape
      assert.strictEqual(total(samples, "herald_saga_transitions"), 1)
      assert.deepStrictEqual(instanceSamples(select(samples, "herald_saga_instances")), [
        "ledger compensated 0",
        "ledger compensating 0",
        "ledger compensation-failed 0",
        "ledger completed 0",
        "ledger running 1"
      ])
    }).pipe(Effect.provide(sagaEnv([Effect.fail("store down"), SagaMetrics.refresh]))))

  it.live("a refresher that does not finish within refreshTimeout is interrupted: the scrape answers with the others' gauges", () => {
    let interrupted = 0
    const hanging = Effect.onInterrupt(Effect.never, () => Effect.sync(() => void interrupted++))
    return Effect.gen(function*() {
      yield* SagaEngine.handle(ledger, yield* Opened.root({ account: "a-1" }), { subject: "ledger.evt.opened" })
      const { samples } = yield* scrape
      assert.deepStrictEqual(instanceSamples(select(samples, "herald_saga_instances")), [
        "ledger compensated 0",
        "ledger compensating 0",
        "ledger compensation-failed 0",
        "ledger completed 0",
        "ledger running 1"
      ])
      assert.strictEqual(interrupted, 1)
    }).pipe(Effect.provide(sagaEnv([hanging, SagaMetrics.refresh], "100 millis")))
  })

  it.effect("skipped duplicates and saga transitions, scraped with exact values", () =>
    Effect.gen(function*() {
      yield* Topology.ensure({
        streams: [{ name: "PAY", subjects: ["pay.>"], duplicateWindow: "50 millis" }, Topology.deadLetterStream()],
        consumers: [{ stream: "PAY", name: "billing" }]
      })
      const log = yield* EventLog.EventLog
      // Messages 1 and 2 stored twice (past the duplicate window), 3 once.
      for (const n of [1, 2, 3]) yield* log.append("pay.x", Fixtures.envelope({ identity: n }))
      yield* TestClock.adjust("80 millis")
      for (const n of [1, 2]) yield* log.append("pay.x", Fixtures.envelope({ identity: n }))
      const handle = yield* log.consume("PAY", "billing", Inbox.middleware()(() => Effect.void))
      yield* Wait.until(handle.stats, (s) => s.acked === 5, "all acked", { advance: TestClock.adjust })

      for (const account of ["a-1", "a-2", "a-3"]) {
        yield* SagaEngine.handle(ledger, yield* Opened.root({ account }), { subject: "ledger.evt.opened" })
      }
      yield* SagaEngine.handle(ledger, yield* Closed.root({ account: "a-2" }), { subject: "ledger.evt.closed" })

      const { samples } = yield* scrape
      assert.deepStrictEqual(
        select(samples, "herald_inbox_duplicates").map((s) => [s.labels, s.value]),
        [[{
          messaging_system: "nats",
          messaging_destination_name: "PAY",
          messaging_consumer_group_name: "billing"
        }, 2]]
      )
      const transitions = (previous: string, status: string) =>
        total(samples, "herald_saga_transitions", {
          herald_saga_name: "ledger",
          herald_saga_status_previous: previous,
          herald_saga_status: status
        })
      assert.deepStrictEqual([transitions("none", "running"), transitions("running", "completed")], [3, 1])
      assert.strictEqual(total(samples, "herald_saga_transitions"), 4)
    }).pipe(Effect.provide(env)))
})
