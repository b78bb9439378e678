/**
 * The state of a consumer runner (`EventLog.consume`), as its handle shows
 * it to health checks and metrics:
 *
 * - `Running`: pulling and handling. `idleSince` is set when the
 *   `idleWarning` option is on and no delivery arrived for that long (a
 *   warning is logged once per idle period); idle is not a fault.
 * - `Recovering`: the runner cannot pull and is doing something about it
 *   (waiting for the connection, looking the consumer up again after
 *   missed heartbeats, a reconnect or a deleted consumer, retrying while the
 *   consumer or stream is missing within the grace period).
 * - `Stalled`: a handler interrupted at its handler deadline has not stopped
 *   yet (it ignores or delays interruption). Its delivery is already settled
 *   and the runner goes on, but the handler still holds what it holds.
 * - `Failed`: the runner stopped; `error` is the error `await` fails with.
 *
 * When several hold at once, the first of `Failed`, `Recovering`, `Stalled`
 * is shown. A runner that holds deliveries and makes no progress without a
 * handler past its deadline is not `Stalled`: with `handlerDeadline: "none"`
 * a handler may legitimately run for as long as it needs, and messages
 * waiting for a nak delay or for ack-pending room are not a stall (the
 * consumer's lag tells those).
 *
 * The `Tracker` is the one implementation the transports share: a runner
 * reports what happens to it, the tracker derives the state.
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type * as Take from "effect/Take"
import type * as TransportError from "./TransportError.ts"

/**
 * Pulling and handling.
 *
 * @since 0.1.0
 * @category models
 */
export interface Running {
  readonly _tag: "Running"
  /** When the last delivery arrived (Unix epoch milliseconds); `undefined` before the first. */
  readonly lastMessageAt: number | undefined
  /** Handlers running. */
  readonly inFlight: number
  /**
   * Set when `idleWarning` is on and no delivery arrived for that long: the
   * start of the idle period (the last delivery, else the start of the
   * runner). Cleared by the next delivery.
   */
  readonly idleSince: number | undefined
}

/**
 * Why a runner is recovering.
 *
 * - `Disconnected`: the connection is lost; waiting for it to come back.
 * - `Reconnected`: the connection came back; looking the consumer up.
 * - `HeartbeatsMissed`: neither a delivery nor a heartbeat came for two
 *   heartbeats; looking the consumer up.
 * - `ConsumerDeleted`: the server ended a pull with `409 Consumer Deleted`.
 * - `NoResponders`: nothing answered a pull request.
 * - `ConsumerNotFound`, `StreamNotFound`: missing; looked up again with
 *   backoff until the grace period ends (then the runner fails).
 * - `Unavailable`: the consumer could not be looked up (a timeout, a
 *   connection error); retrying with backoff.
 *
 * @since 0.1.0
 * @category models
 */
export type RecoveryReason =
  | "Disconnected"
  | "Reconnected"
  | "HeartbeatsMissed"
  | "ConsumerDeleted"
  | "NoResponders"
  | "ConsumerNotFound"
  | "StreamNotFound"
  | "Unavailable"

/**
 * The runner cannot pull and is recovering.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recovering {
  readonly _tag: "Recovering"
  /** The current reason (it may change during one recovery: `Disconnected`, then `Reconnected`). */
  readonly reason: RecoveryReason
  /** The reason in words. */
  readonly detail: string
  /** When this recovery began (Unix epoch milliseconds). */
  readonly since: number
  readonly lastMessageAt: number | undefined
  readonly inFlight: number
}

/**
 * Why a runner is stalled: `HandlerPastDeadline`, a handler interrupted at
 * its handler deadline has not stopped yet.
 *
 * @since 0.1.0
 * @category models
 */
export type StallReason = "HandlerPastDeadline"

/**
 * A handler interrupted at its deadline is still running.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stalled {
  readonly _tag: "Stalled"
  readonly reason: StallReason
  /** The oldest such handler, in words (stream sequence, deadline). */
  readonly detail: string
  /** When the oldest such handler passed its deadline (Unix epoch milliseconds). */
  readonly since: number
  /** Handlers past their deadline that have not stopped. */
  readonly overdue: number
  readonly lastMessageAt: number | undefined
  readonly inFlight: number
}

/**
 * The runner stopped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed {
  readonly _tag: "Failed"
  /** The error the handle's `await` fails with. */
  readonly error: TransportError.TransportError
  /** When the runner stopped (Unix epoch milliseconds). */
  readonly since: number
}

/**
 * The state of a consumer runner.
 *
 * @since 0.1.0
 * @category models
 */
export type ConsumerState = Running | Recovering | Stalled | Failed

/**
 * What a runner reports to its `Tracker`. All of it is synchronous, so that
 * a callback outside any fiber (a client library's message callback) can
 * report too.
 *
 * @since 0.1.0
 * @category runners
 */
export interface Tracker {
  /** The state now (`inFlight` and `lastMessageAt` read live). */
  readonly state: Effect.Effect<ConsumerState>
  /**
   * The state now, then each transition: a change of tag, of reason, of
   * `since`, of the overdue count, or the start or end of an idle period.
   * `inFlight` and `lastMessageAt` are as of the transition. It ends after
   * `Failed`, and when the runner is closed.
   */
  readonly changes: Stream.Stream<ConsumerState>
  /** A delivery arrived: ends an idle period. */
  readonly received: () => void
  /** The runner cannot pull, for `reason`. */
  readonly recovering: (reason: RecoveryReason, detail: string) => void
  /** The runner pulls again. */
  readonly recovered: () => void
  /**
   * A handler was interrupted at its deadline and has not stopped: the
   * runner is stalled until the returned function is called (once it stops).
   */
  readonly overdue: (detail: string) => () => void
  /** The runner stopped with `error`: final. */
  readonly failed: (error: TransportError.TransportError) => void
  /** The runner is closed (its scope closes): `changes` ends; `state` stays readable. */
  readonly close: () => void
  /**
   * Watches for idle periods (with `idleWarningMillis`): logs a warning once
   * per idle period and shows it as `idleSince`. Runs until interrupted or
   * the runner fails; run it in the runner's scope. Without
   * `idleWarningMillis` it ends at once.
   */
  readonly watchIdle: Effect.Effect<void>
}

/**
 * What a `Tracker` is made with.
 *
 * @since 0.1.0
 * @category runners
 */
export interface TrackerOptions {
  /** Names the runner in log lines (`<transport> consumer <stream>/<consumer>`). */
  readonly label: string
  /** The runner's clock: every time the tracker reads and waits on. */
  readonly clock: Clock.Clock
  /** Handlers running. */
  readonly inFlight: () => number
  /** The `idleWarning` option in milliseconds; `undefined`: off. */
  readonly idleWarningMillis: number | undefined
}

interface Recovery {
  readonly reason: RecoveryReason
  readonly detail: string
  readonly since: number
}

interface Overdue {
  readonly detail: string
  readonly since: number
}

/**
 * Makes the tracker of one runner, `Running` from now.
 *
 * @since 0.1.0
 * @category runners
 */
export const makeTracker = (options: TrackerOptions): Effect.Effect<Tracker> =>
  Effect.map(PubSub.unbounded<Take.Take<ConsumerState>>({ replay: 1 }), (pubsub) => {
    const { clock, inFlight, idleWarningMillis, label } = options
    const now = () => clock.currentTimeMillisUnsafe()
    const startedAt = now()
    let lastMessageAt: number | undefined = undefined
    let idleSince: number | undefined = undefined
    let recovery: Recovery | undefined = undefined
    let failure: Failed | undefined = undefined
    const overdue = new Map<number, Overdue>()
    let overdueIds = 0

    const current = (): ConsumerState => {
      if (failure !== undefined) return failure
      if (recovery !== undefined) {
        return {
          _tag: "Recovering",
          reason: recovery.reason,
          detail: recovery.detail,
          since: recovery.since,
          lastMessageAt,
          inFlight: inFlight()
        }
      }
      let oldest: Overdue | undefined = undefined
      for (const o of overdue.values()) if (oldest === undefined || o.since < oldest.since) oldest = o
      if (oldest !== undefined) {
        return {
          _tag: "Stalled",
          reason: "HandlerPastDeadline",
          detail: oldest.detail,
          since: oldest.since,
          overdue: overdue.size,
          lastMessageAt,
          inFlight: inFlight()
        }
      }
      return { _tag: "Running", lastMessageAt, inFlight: inFlight(), idleSince }
    }

    /** What makes a transition: everything but the live counts. */
    const keyOf = (s: ConsumerState): string => {
      switch (s._tag) {
        case "Running":
          return `Running:${s.idleSince ?? ""}`
        case "Recovering":
          return `Recovering:${s.reason}:${s.since}`
        case "Stalled":
          return `Stalled:${s.since}:${s.overdue}`
        case "Failed":
          return "Failed"
      }
    }

    let last = current()
    let publishedKey = keyOf(last)
    let closed = false
    PubSub.publishUnsafe(pubsub, [last])
    const publish = () => {
      if (closed) return
      const next = current()
      const key = keyOf(next)
      if (key === publishedKey) return
      publishedKey = key
      last = next
      PubSub.publishUnsafe(pubsub, [next])
    }
    const close = () => {
      if (closed) return
      closed = true
      PubSub.publishUnsafe(pubsub, Exit.void)
    }

    const received = () => {
      lastMessageAt = now()
      if (idleSince !== undefined) {
        idleSince = undefined
        publish()
      }
    }

    const recovering = (reason: RecoveryReason, detail: string) => {
      if (failure !== undefined) return
      recovery = { reason, detail, since: recovery?.since ?? now() }
      publish()
    }

    const recovered = () => {
      if (recovery === undefined) return
      recovery = undefined
      publish()
    }

    const markOverdue = (detail: string) => {
      const id = ++overdueIds
      overdue.set(id, { detail, since: now() })
      publish()
      return () => {
        if (overdue.delete(id)) publish()
      }
    }

    const failed = (error: TransportError.TransportError) => {
      if (failure !== undefined) return
      failure = { _tag: "Failed", error, since: now() }
      publish()
      close()
    }

    const watchIdle: Effect.Effect<void> = idleWarningMillis === undefined
      ? Effect.void
      : Effect.gen(function*() {
        while (failure === undefined) {
          const start = lastMessageAt ?? startedAt
          const remaining = start + idleWarningMillis - now()
          if (remaining > 0) {
            yield* clock.sleep(Duration.millis(remaining))
            continue
          }
          if (idleSince === undefined) {
            idleSince = start
            publish()
            yield* Effect.logWarning(`${label}: no message for ${now() - start} ms (idle warning after ${idleWarningMillis} ms)`)
          }
          // A delivery ends the period at the earliest now: the next one cannot start before this much time.
          yield* clock.sleep(Duration.millis(idleWarningMillis))
        }
      })

    const tracker: Tracker = {
      state: Effect.sync(current),
      // (Once closed, the end replaces the last state in the replay: a late subscriber gets the last state.)
      changes: Stream.suspend(() => closed ? Stream.make(last) : Stream.fromPubSubTake(pubsub)),
      received,
      recovering,
      recovered,
      overdue: markOverdue,
      failed,
      close,
      watchIdle
    }
    return tracker
  })
