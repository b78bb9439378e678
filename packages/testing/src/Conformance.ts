/**
 * The transport conformance suite: one set of tests that every Herald
 * transport runs, so that the in-memory transport and the NATS transport are
 * held to the same `Bus`, `EventLog` and `Topology` contracts.
 *
 * ```ts
 * // test/conformance-memory.test.ts
 * import { MemoryTransport } from "@herald/testing"
 * import { Conformance } from "@herald/testing/vitest"
 *
 * Conformance.suite("memory", { layer: MemoryTransport.layer, clock: "test" })
 * ```
 *
 * `suite` registers a vitest `describe` block. The transport layer is built
 * for each test, inside the test's effect, so that everything the transport
 * forks sees the test's clock. With `clock: "test"` tests run under
 * `TestClock` (`it.effect`) and time is moved with `TestClock.adjust`; with
 * `clock: "live"` (a real server) they run with the live clock (`it.live`) and
 * waiting is a real sleep. Tests assert outcomes, never timings, so the same
 * assertions hold in both modes; the durations involved are short (ack waits
 * of 1 to 2 seconds, a 2-second duplicate window and `maxAge`, pulls that
 * expire after 250 ms) so that a live run stays fast; the transport must
 * honour the `expires` of `pull`.
 *
 * Every test names its own streams, consumers and subjects (a counter and a
 * random suffix, e.g. stream `C7_ORDERS_X9F` on subjects `c7x9f.orders.>`), so
 * the tests of one suite, and several suites, can share one server. Dead-letter
 * queues are test-local streams on test-local subjects; no test touches
 * `herald.dlq.>`.
 *
 * Behaviour a transport may truly not support is switched off with
 * `features` (all `true` by default, in the manner of Watermill's pub/sub
 * tests): the tests of a disabled feature are registered but not run, so the
 * report lists them as skipped. Assertions are never weakened.
 *
 * @since 0.1.0
 */
import type { Bus, EventLog, Topology } from "@herald/transport"
import { describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as BusTests from "./internal/conformance/bus.ts"
import * as ConsumeTests from "./internal/conformance/consume.ts"
import * as ConsumerTests from "./internal/conformance/consumers.ts"
import type { SuiteContext, TestBody, TestOptions } from "./internal/conformance/context.ts"
import * as EventLogTests from "./internal/conformance/eventlog.ts"
import * as StateTests from "./internal/conformance/state.ts"
import { makeKit } from "./internal/conformance/kit.ts"
import * as MaintenanceTests from "./internal/conformance/maintenance.ts"
import * as TopologyTests from "./internal/conformance/topology.ts"

/**
 * Behaviours a transport may not support. Each switch enables the tests of
 * one behaviour; all are `true` by default.
 *
 * @since 0.1.0
 * @category models
 */
export interface Features {
  /** Streams remove messages older than `maxAge`. */
  readonly maxAge: boolean
  /** `discard: "new"` refuses appends to a full stream (`LimitExceeded`). */
  readonly discardNew: boolean
  /** `maxMessagesPerSubject` keeps only the newest messages of each subject. */
  readonly maxMessagesPerSubject: boolean
  /** The duplicate window ends: after it the same message id is stored again. */
  readonly duplicateWindowExpiry: boolean
  /** `retention: "workqueue"` removes a message once it is acknowledged. */
  readonly workqueueRetention: boolean
  /** `retention: "interest"` removes a message once every consumer acknowledged it. */
  readonly interestRetention: boolean
  /** Consumer `backoff`: redelivery delays after ack timeouts, by delivery count. */
  readonly backoff: boolean
  /** `nak(delay)` redelivers after the delay, not before. */
  readonly nakDelay: boolean
  /** Consumer `maxAckPending` caps unacknowledged deliveries. */
  readonly maxAckPending: boolean
  /** The `LastPerSubject` deliver policy. */
  readonly deliverLastPerSubject: boolean
  /** The `ByStartTime` deliver policy. */
  readonly deliverByStartTime: boolean
  /** `read` from and to a time. */
  readonly readByTime: boolean
  /**
   * `expectedLastSequence: 0` is checked (the stream must be empty). Older
   * nats-server versions ignore a `Nats-Expected-Last-Sequence` of 0.
   */
  readonly expectedLastSequenceZero: boolean
  /** Core queue groups, for `subscribe` and `serve`. */
  readonly queueGroups: boolean
  /** `request` fails at once with `NoResponders` when nobody serves the subject. */
  readonly noResponders: boolean
}

/**
 * Every feature enabled.
 *
 * @since 0.1.0
 * @category constants
 */
export const allFeatures: Features = {
  maxAge: true,
  discardNew: true,
  maxMessagesPerSubject: true,
  duplicateWindowExpiry: true,
  workqueueRetention: true,
  interestRetention: true,
  backoff: true,
  nakDelay: true,
  maxAckPending: true,
  deliverLastPerSubject: true,
  deliverByStartTime: true,
  readByTime: true,
  expectedLastSequenceZero: true,
  queueGroups: true,
  noResponders: true
}

/**
 * Options of {@link suite}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S = never> {
  /** The transport under test; built anew for every test. */
  readonly layer: Layer.Layer<Bus.Bus | EventLog.EventLog | Topology.Topology, unknown, S>
  /**
   * Built once for the whole suite and given to every test's `layer`: a
   * real server, say. Tests name their streams and subjects uniquely, so they
   * can share one.
   */
  readonly shared?: Layer.Layer<S, unknown> | undefined
  /**
   * `"test"`: tests run under `TestClock` and time is advanced with
   * `TestClock.adjust` (the transport must take its time from `Clock`).
   * `"live"`: tests run with the live clock and waiting is a real sleep.
   */
  readonly clock: "test" | "live"
  /** Behaviours the transport does not support (default: all supported). */
  readonly features?: Partial<Features> | undefined
  /** Vitest timeout of each test in milliseconds (default: the project's). */
  readonly timeout?: number | undefined
}

/**
 * Registers the conformance suite as `describe(name)`, with one nested block
 * per contract area (EventLog streams, pull consumers, consume, Bus,
 * Topology). Call it at the top level of a test file.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = <S = never>(name: string, options: Options<S>): void => {
  const features: Features = { ...allFeatures, ...options.features }
  const register = (tester: typeof it.effect) => {
    const test = (testName: string, body: TestBody, testOptions?: TestOptions): void => {
      const enabled = testOptions?.feature === undefined || features[testOptions.feature]
      const label = testOptions?.feature === undefined ? testName : `${testName} [${testOptions.feature}]`
      const timeout = testOptions?.timeout ?? options.timeout
      tester.runIf(enabled)(
        label,
        () =>
          Effect.suspend(() => {
            const kit = makeKit(options.clock)
            // Scoped inside the provided layer: subscriptions and consumers
            // close before the transport does.
            return Effect.scoped(body(kit)).pipe(Effect.provide(options.layer, { local: true }))
          }) as Effect.Effect<void, unknown>,
        timeout
      )
    }
    registerAll({ features, test })
  }
  if (options.shared === undefined) {
    describe(name, () => register(options.clock === "test" ? it.effect : it.live))
  } else {
    layer(options.shared, { excludeTestServices: options.clock === "live", timeout: "60 seconds" })(
      name,
      (shared) => register(shared.effect as unknown as typeof it.effect)
    )
  }
}

const registerAll = (context: SuiteContext): void => {
  describe("EventLog: streams", () => EventLogTests.register(context))
  describe("EventLog: pull consumers", () => ConsumerTests.register(context))
  describe("EventLog: consume", () => ConsumeTests.register(context))
  describe("EventLog: consumer state", () => StateTests.register(context))
  describe("Bus", () => BusTests.register(context))
  describe("Topology", () => TopologyTests.register(context))
  describe("Topology: purge", () => MaintenanceTests.registerPurge(context))
  describe("EventLog: get", () => MaintenanceTests.registerGet(context))
}
