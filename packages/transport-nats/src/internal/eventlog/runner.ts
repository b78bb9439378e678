/**
 * The state a consumer runner's pump (`pump.ts`) and workers (`workers.ts`)
 * share, in one object, with the operations both use.
 *
 * Everything runs on one thread: the inbox callback, the pump and the
 * workers change the state between each other's steps, never during one.
 *
 * @since 0.1.0
 * @internal
 */
import type { ConsumerState, EventLog, Foreign, TransportError } from "@herald/transport"
import type { Msg } from "@nats-io/nats-core"
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Delivery from "./delivery.ts"
import { type Env, keyOf } from "./env.ts"
import { statusOf } from "./message.ts"
import type { ConsumerSettings } from "./util.ts"

/**
 * What reaches the pump.
 *
 * @internal
 */
export type PumpEvent =
  | { readonly _tag: "Inbox"; readonly msg: Msg }
  | { readonly _tag: "Connection"; readonly up: boolean }
  | { readonly _tag: "SubscriptionError"; readonly error: unknown }
  | { readonly _tag: "Wake" }

/**
 * The pull request the runner has open (one at a time: see `pump.ts`).
 *
 * @internal
 */
export interface OpenRequest {
  readonly reply: string
  /** Deliveries it may still bring. */
  remaining: number
  readonly expiresAt: number
}

/**
 * The runner's counts (`EventLog.ConsumerStats`).
 *
 * @internal
 */
export type MutableStats = { -readonly [K in keyof EventLog.ConsumerStats]: EventLog.ConsumerStats[K] }

/**
 * What the runner was started with.
 *
 * @internal
 */
export interface Config {
  readonly env: Env
  readonly stream: string
  readonly consumer: string
  /** The `deadLetterSubject` option. */
  readonly override: string | undefined
  /** The `maxAckPending` option (resolved). */
  readonly clientMax: number
  readonly nakDelay: ((deliveryCount: number) => Duration.Input) | undefined
  /** The `handlerDeadline` option: `undefined` for the default (the consumer's ack wait), `"none"`, or milliseconds. */
  readonly handlerDeadline: number | "none" | undefined
  /** The `foreign` option: how messages without Herald's headers are read. */
  readonly foreign: Foreign.Options | undefined
  /** The prefix of the runner's pull inbox (`<prefix>.*`). */
  readonly prefix: string
}

/**
 * The shared state of one runner.
 *
 * @internal
 */
export class Runner {
  readonly label: string
  readonly stats: MutableStats = { acked: 0, naked: 0, termed: 0, deadLettered: 0, inFlight: 0, timedOut: 0 }
  /** Fails once, when the runner stops on an error. */
  readonly failure = Deferred.makeUnsafe<never, TransportError.TransportError>()
  /** The consumer as last looked up. */
  settings: ConsumerSettings
  /** How many deliveries the runner may hold and request at once. */
  limit: number
  /** The open pull request. */
  request: OpenRequest | undefined = undefined
  /** Deliveries queued or being handled. */
  held = 0
  /** Deliveries received by the inbox callback (the pump notes when it changes). */
  seen = 0
  /** A `Wake` is in the pump's queue. */
  woken = false
  /** The runner stops (shutdown or failure): no handler starts any more. */
  stopping = false

  readonly config: Config
  /** What the pump waits for. */
  readonly events: Queue.Queue<PumpEvent>
  /** Deliveries for the workers. */
  readonly work: Queue.Queue<Delivery.Received, Cause.Done>

  /** The runner's state, as the handle shows it. */
  readonly tracker: ConsumerState.Tracker

  constructor(
    config: Config,
    settings: ConsumerSettings,
    events: Queue.Queue<PumpEvent>,
    work: Queue.Queue<Delivery.Received, Cause.Done>,
    tracker: ConsumerState.Tracker
  ) {
    this.config = config
    this.tracker = tracker
    this.events = events
    this.work = work
    this.label = `NatsEventLog consumer ${config.stream}/${config.consumer}`
    this.settings = settings
    this.limit = this.limitOf(settings)
  }

  get env(): Env {
    return this.config.env
  }

  private limitOf(s: ConsumerSettings): number {
    return Math.max(1, Math.min(this.config.clientMax, s.maxAckPending ?? Number.POSITIVE_INFINITY))
  }

  /** Takes the consumer's settings as looked up again. */
  updateSettings(settings: ConsumerSettings): void {
    this.settings = settings
    this.limit = this.limitOf(settings)
  }

  /** Where dead letters go: the option, else what the layer's overrides say, else the consumer's. */
  deadLetterSubject(): string {
    return this.config.override ?? this.env.overrides.get(keyOf(this.config.stream, this.config.consumer)) ??
      this.settings.deadLetterSubject
  }

  /** The handler deadline in milliseconds, `undefined` for none. */
  handlerDeadlineMillis(): number | undefined {
    const d = this.config.handlerDeadline
    if (d === "none") return undefined
    return d ?? this.settings.ackWaitMillis
  }

  /** Free room worth a pull request: a quarter of the bound (nats.js `consume()` refills at 25 %). */
  refillAt(): number {
    return Math.max(1, Math.floor(this.limit / 4))
  }

  /** Puts a `Wake` in the pump's queue unless one is there. */
  wake(): void {
    if (this.woken) return
    this.woken = true
    Queue.offerUnsafe(this.events, { _tag: "Wake" })
  }

  /** Wakes the pump when no request is open and enough room is free for one. */
  wakeToRefill(): void {
    if (this.request === undefined && this.limit - this.held >= this.refillAt()) this.wake()
  }

  /** A delivery the runner held is settled. */
  release(): void {
    this.held = Math.max(0, this.held - 1)
    this.wakeToRefill()
  }

  /**
   * The pull inbox's callback: deliveries go straight to the workers;
   * status messages, and everything once the runner stops, go to the pump.
   */
  onMessage(err: Error | null, msg: Msg): void {
    if (err !== null) {
      Queue.offerUnsafe(this.events, { _tag: "SubscriptionError", error: err })
      return
    }
    if (this.stopping || statusOf(msg) !== undefined) {
      Queue.offerUnsafe(this.events, { _tag: "Inbox", msg })
      return
    }
    this.seen++
    const received = Delivery.receive(msg)
    if (received === undefined) return
    this.tracker.received()
    this.held++
    Queue.offerUnsafe(this.work, received)
    this.countDelivered()
  }

  /** A delivery of the open request arrived. */
  countDelivered(): void {
    const open = this.request
    if (open !== undefined && --open.remaining <= 0) {
      this.request = undefined
      this.wakeToRefill()
    }
  }

  /** Naks deliveries no handler has taken. */
  giveBack(received: ReadonlyArray<Delivery.Received>): Effect.Effect<void> {
    return Effect.forEach(
      received,
      (r) =>
        Delivery.settleRaw(this.env.settle, r, "nak").pipe(
          Effect.tap(() => Effect.sync(() => void this.stats.naked++)),
          Effect.ignore
        ),
      { concurrency: 16, discard: true }
    )
  }

  /**
   * Stops the runner on an error: no more handlers start, the deliveries no
   * handler has taken go back to the server, the workers stop once the queue
   * is empty. Handlers already running may finish.
   */
  fail(error: TransportError.TransportError): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      yield* Effect.logError(`${this.label}: stopped: ${error.message}`)
      this.tracker.failed(error)
      yield* Deferred.fail(this.failure, error)
      // Deliveries still arriving go to the pump, which gives them back.
      this.stopping = true
      const queued = yield* Queue.clear(this.work)
      Queue.endUnsafe(this.work)
      yield* this.giveBack(queued)
    })
  }
}
