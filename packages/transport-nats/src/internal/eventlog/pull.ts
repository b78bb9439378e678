/**
 * `EventLog.pull`: waits up to `expires` for the first delivery, then takes
 * what is ready, up to `batch`, without waiting for a full batch.
 *
 * Two requests: `{ batch: 1, expires }` waits for the first delivery (the
 * server ends it with `408` when nothing came); then `{ batch: n - 1,
 * no_wait }` takes what is ready. nats-server 2.9 ends a `no_wait` request
 * with `404` when nothing is pending and with `408` after it delivered what
 * there was; but when the consumer's `max_ack_pending` is reached it sends
 * nothing at all (measured), so the second request is also ended when
 * nothing has arrived for a short while. A `no_wait` request with an
 * `expires` is no help: 2.9 then holds new messages back until the request
 * expires.
 *
 * A pull request to a consumer that does not exist is not answered (no
 * `503` either): when no answer comes by the deadline, the consumer is
 * looked up, to fail with `ConsumerNotFound` or `StreamNotFound`.
 *
 * @since 0.1.0
 * @internal
 */
import { type EventLog, Millis, Topology, TransportError } from "@herald/transport"
import type { Msg } from "@nats-io/nats-core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import { subjectFor, undecodable } from "./deadLetters.ts"
import * as Delivery from "./delivery.ts"
import { consumerInfo, type Env } from "./env.ts"
import * as Inbox from "./inbox.ts"
import { StatusCodes, statusOf } from "./message.ts"
import { settingsOf } from "./util.ts"

const defaultExpiresMillis = 1_000
/** How long past its `expires` a request may stay unanswered before the consumer is looked up. */
const answerMarginMillis = 1_000

/**
 * Checks a stream or consumer name before it goes into a subject.
 *
 * @internal
 */
export const validateNames = (stream: string, consumer: string): Effect.Effect<void, TransportError.TransportError> =>
  Effect.suspend(() => {
    const s = Topology.validateName("stream", stream)
    if (Result.isFailure(s)) return Effect.fail(s.failure)
    const c = Topology.validateName("consumer", consumer)
    return Result.isFailure(c) ? Effect.fail(c.failure) : Effect.void
  })

/** Looks the consumer up after a request got no answer or was ended by a deletion: fails when it is missing. */
const ensureExists = (env: Env, stream: string, consumer: string) =>
  Effect.asVoid(consumerInfo(env, stream, consumer))

const take = (inbox: Inbox.Inbox, millis: number) =>
  Effect.timeoutOption(Queue.take(inbox.messages), Math.max(1, millis))

/** Waits for the first delivery; `undefined` when the request ended without one. */
const first = (
  env: Env,
  stream: string,
  consumer: string,
  inbox: Inbox.Inbox,
  remaining: number
): Effect.Effect<Delivery.Received | undefined, TransportError.TransportError> =>
  Effect.gen(function*() {
    const token = yield* inbox.request(remaining >= 1 ? { batch: 1, expires: remaining } : { batch: 1, noWait: true })
    const deadline = (yield* Clock.currentTimeMillis) + Math.max(0, remaining) + answerMarginMillis
    while (true) {
      const left = deadline - (yield* Clock.currentTimeMillis)
      const next: Option.Option<Msg> = left <= 0 ? Option.none() : yield* take(inbox, left)
      if (Option.isNone(next)) {
        yield* ensureExists(env, stream, consumer)
        return undefined
      }
      const msg = next.value
      const status = statusOf(msg)
      if (status === undefined) {
        // Any delivery on the inbox is this pull's, whichever request it answers.
        const received = Delivery.receive(msg)
        if (received !== undefined) return received
        continue
      }
      if (msg.subject !== token || status.code === StatusCodes.heartbeat) continue
      switch (status.code) {
        case StatusCodes.noMessages:
        case StatusCodes.timeout:
          return undefined
        case StatusCodes.conflict:
        case StatusCodes.noResponders:
          // "Consumer Deleted", "Server Shutdown", "Exceeded MaxWaiting", ...
          yield* ensureExists(env, stream, consumer)
          return undefined
        default:
          return yield* Effect.fail(
            TransportError.make(
              new TransportError.Unknown({
                detail: `pull ${stream}/${consumer}: the server answered ${status.code} ${status.description}`
              })
            )
          )
      }
    }
  })

/** Takes up to `count` deliveries that are ready now. */
const ready = (
  env: Env,
  inbox: Inbox.Inbox,
  count: number
): Effect.Effect<Array<Delivery.Received>, TransportError.TransportError> =>
  Effect.gen(function*() {
    const out: Array<Delivery.Received> = []
    if (count <= 0) return out
    const token = yield* inbox.request({ batch: count, noWait: true })
    let answered = 0
    while (true) {
      const next = yield* take(inbox, env.options.restGapMillis)
      if (Option.isNone(next)) return out
      const msg = next.value
      const status = statusOf(msg)
      if (status === undefined) {
        // A delivery's subject is the message's own, not the reply subject it
        // was sent to: only one request is open, so it answers that one.
        const received = Delivery.receive(msg)
        if (received !== undefined) out.push(received)
        if (++answered >= count) return out
        continue
      }
      if (msg.subject === token && status.code !== StatusCodes.heartbeat) return out
    }
  })

/**
 * Builds `pull`.
 *
 * @internal
 */
export const make = (env: Env) =>
(
  stream: string,
  consumer: string,
  options?: EventLog.PullOptions
): Effect.Effect<ReadonlyArray<EventLog.Delivery>, TransportError.TransportError> =>
  Effect.scoped(Effect.gen(function*() {
    yield* validateNames(stream, consumer)
    const batch = Math.max(1, Math.floor(options?.batch ?? 1))
    const expires = Millis.orElse(options?.expires, defaultExpiresMillis)
    yield* env.watchAdvisories(stream, consumer)
    // (Looked up first: a delivery says where its dead letter goes.)
    const settings = settingsOf(stream, consumer, yield* consumerInfo(env, stream, consumer))
    const deadLetterSubject = subjectFor(env, settings)
    const inbox = yield* Inbox.open(env.connection.client, stream, consumer)
    const deadline = (yield* Clock.currentTimeMillis) + expires
    const out: Array<EventLog.Delivery> = []
    while (true) {
      const remaining = deadline - (yield* Clock.currentTimeMillis)
      const head = yield* first(env, stream, consumer, inbox, remaining)
      if (head === undefined) return out
      const rest = yield* ready(env, inbox, batch - 1)
      for (const received of [head, ...rest]) {
        const decoded = Delivery.decode(received, options?.foreign)
        if (Result.isSuccess(decoded)) {
          out.push(Delivery.make(env.settle, received, decoded.success, deadLetterSubject).delivery)
        } else {
          yield* undecodable(env, received, decoded.failure, { settings, deadLetterSubject })
        }
      }
      // Only undecodable messages so far: keep waiting for a valid one.
      if (out.length > 0 || (yield* Clock.currentTimeMillis) >= deadline) return out
    }
  }))
