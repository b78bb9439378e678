/**
 * Herald's metrics counted by other packages (the inbox's skipped
 * duplicates, the saga engine's transitions) in the same registry as the
 * layer's, scraped over HTTP with exact values.
 */
import { assert, describe, it } from "@effect/vitest"
import { IdGenerator } from "@herald/identity"
import { Inbox, InboxMemory } from "@herald/inbox"
import { Saga, SagaEngine, SagaMemory } from "@herald/saga"
import { Fixtures, MemoryTransport, Wait } from "@herald/testing"
import { EventLog, Message, Topology } from "@herald/transport"
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

describe("metrics of the inbox and the saga engine", () => {
  it("their names are the ones Semconv lists", () => {
    assert.strictEqual(Inbox.duplicates.id, Semconv.Metrics.inboxDuplicates)
    assert.strictEqual(SagaEngine.transitions.id, Semconv.Metrics.sagaTransitions)
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
