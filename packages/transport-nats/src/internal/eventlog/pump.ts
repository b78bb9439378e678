/**
 * The pump of a consumer runner: pull requests and health.
 *
 * It keeps one pull request open so that the deliveries the runner holds
 * plus those still requested never exceed the runner's bound, opening the
 * next one once a quarter of the bound is free. JetStream sends a delivery
 * with the message's own subject, not the request's reply subject, so
 * deliveries cannot be told apart by request; status messages can, and a
 * delivery is told from a status by its `$JS.ACK` reply subject, whatever
 * its header block says.
 *
 * Health: when neither a delivery nor a heartbeat came for two heartbeats,
 * when the server ends a request with `409 Consumer Deleted`, and after a
 * reconnect, the pump looks the consumer up and starts over. A consumer or
 * stream that is missing is looked up again with backoff while the grace
 * period lasts; then the runner fails with `ConsumerNotFound` or
 * `StreamNotFound`.
 *
 * @since 0.1.0
 * @internal
 */
import { TransportError } from "@herald/transport"
import type { Msg } from "@nats-io/nats-core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Errors from "../errors.ts"
import * as Delivery from "./delivery.ts"
import { consumerInfo } from "./env.ts"
import { encodeRequest, nextSubject } from "./inbox.ts"
import { StatusCodes, statusOf } from "./message.ts"
import type { PumpEvent, Runner } from "./runner.ts"
import { settingsOf } from "./util.ts"

type Health = "ok" | "missing" | "unavailable"

/** The pump's own state, beside the runner's. */
interface PumpState {
  /** The last request's number (its reply subject is `<prefix>.<n>`). */
  counter: number
  /** When something last came (a delivery, a heartbeat, a status). */
  lastSeen: number
  /** `runner.seen` when the pump last looked. */
  seenAt: number
  health: Health
  /** When the consumer was first found missing. */
  missingSince: number | undefined
  /** Consumer checks in a row that failed. */
  attempt: number
  nextCheckAt: number
  connected: boolean
  /** Why the consumer must be looked up before the next request. */
  checkReason: string | undefined
}

const backoffMillis = (attempt: number): number => Math.min(2_000, 250 * 2 ** Math.min(attempt, 4))

/**
 * The pump of `runner`: runs until the runner fails.
 *
 * @internal
 */
export const run = (runner: Runner): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { env, stream, consumer, prefix } = runner.config
    const client = env.connection.client
    const tuning = env.options
    const label = runner.label
    const subject = nextSubject(stream, consumer)
    const missedAfter = tuning.heartbeatMillis * 2 + 500
    const state: PumpState = {
      counter: 0,
      lastSeen: yield* Clock.currentTimeMillis,
      seenAt: runner.seen,
      health: "ok",
      missingSince: undefined,
      attempt: 0,
      nextCheckAt: 0,
      connected: true,
      checkReason: undefined
    }

    /** Opens a request when enough room is free; `false` when the runner failed. */
    const refill = (now: number) =>
      Effect.suspend(() => {
        const free = runner.limit - runner.held
        if (runner.request !== undefined || free < runner.refillAt()) return Effect.succeed(true)
        const reply = `${prefix}.${++state.counter}`
        return Effect.try({
          try: () =>
            client.publish(
              subject,
              encodeRequest({ batch: free, expires: tuning.pullExpiresMillis, heartbeat: tuning.heartbeatMillis }),
              { reply }
            ),
          catch: (e) => Errors.fromUnknown(e, { operation: `pull ${stream}/${consumer}`, stream, consumer })
        }).pipe(
          Effect.map(() => {
            state.lastSeen = now
            runner.request = { reply, remaining: free, expiresAt: now + tuning.pullExpiresMillis }
            return true
          }),
          Effect.catch((e) => Effect.as(runner.fail(e), false))
        )
      })

    /** Looks the consumer up; `true` when the runner must stop. */
    const check = (reason: string, now: number) =>
      Effect.gen(function*() {
        runner.request = undefined
        const result = yield* Effect.result(consumerInfo(env, stream, consumer, tuning.checkTimeoutMillis))
        if (Result.isSuccess(result)) {
          runner.updateSettings(settingsOf(stream, consumer, result.success))
          if (state.health !== "ok") yield* Effect.logInfo(`${label}: consumer found again (${reason}); pulling`)
          else yield* Effect.logDebug(`${label}: consumer checked (${reason}); pulling again`)
          state.health = "ok"
          state.missingSince = undefined
          state.attempt = 0
          state.lastSeen = yield* Clock.currentTimeMillis
          runner.tracker.recovered()
          return false
        }
        const error = result.failure
        const tag = error.reason._tag
        if (tag === "Closed") {
          yield* runner.fail(error)
          return true
        }
        if (tag === "ConsumerNotFound" || tag === "StreamNotFound") {
          const since = state.missingSince ?? now
          if (state.missingSince === undefined) {
            state.missingSince = now
            yield* Effect.logWarning(
              `${label}: ${error.message} (${reason}); retrying for up to ${tuning.missingGraceMillis} ms`
            )
          }
          state.health = "missing"
          runner.tracker.recovering(
            tag,
            `${error.message}; looked up again until ${tuning.missingGraceMillis} ms have passed`
          )
          if (now - since >= tuning.missingGraceMillis) {
            yield* runner.fail(error)
            return true
          }
        } else {
          runner.tracker.recovering("Unavailable", `cannot look the consumer up: ${error.message}`)
          if (state.health === "ok") {
            state.health = "unavailable"
            yield* Effect.logWarning(`${label}: cannot check the consumer (${reason}): ${error.message}; retrying`)
          }
        }
        state.nextCheckAt = now + backoffMillis(state.attempt++)
        return false
      })

    /** A request of this runner ended (a status on its reply subject). */
    const ended = (msg: Msg): boolean => {
      if (msg.subject !== runner.request?.reply) return false
      runner.request = undefined
      return true
    }

    const onInbox = (msg: Msg, now: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        state.lastSeen = now
        const status = statusOf(msg)
        if (status === undefined) {
          // Only while stopping does the callback pass deliveries on: give them back.
          const received = Delivery.receive(msg)
          if (received === undefined) return Effect.void
          runner.countDelivered()
          return Effect.ignore(Delivery.settleRaw(env.settle, received, "nak")).pipe(
            Effect.tap(() => Effect.sync(() => void runner.stats.naked++))
          )
        }
        switch (status.code) {
          case StatusCodes.heartbeat:
            return Effect.void
          case StatusCodes.noMessages:
          case StatusCodes.timeout:
            ended(msg)
            return Effect.void
          case StatusCodes.conflict:
            ended(msg)
            if (/consumer deleted/i.test(status.description)) {
              state.checkReason = "the server reported the consumer deleted"
              runner.tracker.recovering("ConsumerDeleted", "the server ended a pull request: consumer deleted")
            }
            return Effect.logDebug(`${label}: pull request ended: ${status.code} ${status.description}`)
          case StatusCodes.noResponders:
            ended(msg)
            state.checkReason = "no responders for the pull request"
            runner.tracker.recovering("NoResponders", "no responders for the pull request")
            return Effect.void
          case StatusCodes.badRequest:
            // Only the server's answer to this runner's open request says the request was refused.
            if (!ended(msg)) return Effect.logDebug(`${label}: ignored status ${status.code} ${status.description}`)
            return runner.fail(
              TransportError.make(
                new TransportError.Unknown({
                  detail: `consume ${stream}/${consumer}: the server refused a pull request: ${status.code} ${status.description}`
                })
              )
            )
          default:
            return Effect.logDebug(`${label}: pull status ${status.code} ${status.description}`)
        }
      })

    const onEvent = (e: PumpEvent, now: number): Effect.Effect<boolean> => {
      switch (e._tag) {
        case "Inbox":
          return Effect.as(onInbox(e.msg, now), true)
        case "Connection":
          runner.request = undefined
          state.connected = e.up
          if (e.up) {
            state.checkReason = "reconnected"
            runner.tracker.recovering("Reconnected", "the connection is back; looking the consumer up")
          } else runner.tracker.recovering("Disconnected", "the connection is lost; waiting for it to come back")
          return Effect.as(Effect.logInfo(`${label}: connection ${e.up ? "back" : "lost"}`), true)
        case "SubscriptionError":
          return Effect.as(
            runner.fail(Errors.fromUnknown(e.error, { operation: `consume ${stream}/${consumer}`, stream, consumer })),
            false
          )
        case "Wake":
          runner.woken = false
          return Effect.succeed(true)
      }
    }

    /** Notes missed heartbeats and requests the server should have ended. */
    const watch = (now: number): Effect.Effect<void> => {
      const open = runner.request
      if (runner.stopping || !state.connected || state.health !== "ok" || open === undefined) return Effect.void
      if (now - state.lastSeen > missedAfter && state.checkReason === undefined) {
        state.checkReason = "heartbeats missed"
        runner.tracker.recovering("HeartbeatsMissed", `no delivery nor heartbeat for ${now - state.lastSeen} ms; looking the consumer up`)
        return Effect.logWarning(
          `${label}: no delivery nor heartbeat for ${now - state.lastSeen} ms; checking the consumer`
        )
      }
      // The server should have ended it with a 408 by now.
      if (now > open.expiresAt + missedAfter) runner.request = undefined
      return Effect.void
    }

    while (!(yield* Deferred.isDone(runner.failure))) {
      let now = yield* Clock.currentTimeMillis
      if (!runner.stopping) {
        if (state.checkReason !== undefined || (state.health !== "ok" && state.connected && now >= state.nextCheckAt)) {
          const reason = state.checkReason ?? "retry"
          state.checkReason = undefined
          if (yield* check(reason, now)) return
          now = yield* Clock.currentTimeMillis
        }
        if (state.health === "ok" && state.connected && !(yield* refill(now))) return
      }
      const wait = state.health === "ok" || !state.connected
        ? tuning.heartbeatMillis
        : Math.min(tuning.heartbeatMillis, state.nextCheckAt - now)
      const event = yield* Effect.timeoutOption(Queue.take(runner.events), Math.max(1, wait))
      now = yield* Clock.currentTimeMillis
      if (Option.isSome(event) && !(yield* onEvent(event.value, now))) return
      // Deliveries the callback took since the last step.
      if (runner.seen !== state.seenAt) {
        state.seenAt = runner.seen
        state.lastSeen = now
      }
      yield* watch(now)
    }
  })
