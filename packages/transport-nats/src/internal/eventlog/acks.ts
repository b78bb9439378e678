/**
 * The consumer runner's acks, confirmed in the background.
 *
 * The runner acks a delivery whose handler succeeded and goes on to the next
 * one without waiting for the server: the `+ACK` goes out with a reply
 * subject under one inbox of the runner, and the server's answer there (sent
 * once it applied the ack) confirms it. Only then does it count in
 * `stats.acked`, so that a `lag` read after the count sees the ack. A
 * confirmation that does not come within the settle timeout, or that says
 * nobody received the ack, is logged; the delivery is then redelivered
 * after its ack wait, which at-least-once delivery allows.
 *
 * One subscription for every ack of the runner instead of a nats.js
 * `request` per ack: no timer, promise nor error objects per ack (nats.js
 * `consume()` with pipelined `ackAck()` reaches 26–35 k msgs/s, with this
 * 72 k, against 78–80 k for unconfirmed acks; `bench/src/micro/ackmodes.ts`).
 *
 * The acks waiting for their confirmation are bounded: at the bound, the
 * next ack waits for room.
 *
 * @since 0.1.0
 * @internal
 */
import { TransportError } from "@herald/transport"
import { createInbox } from "@nats-io/nats-core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Errors from "../errors.ts"
import type { Received, SettleContext } from "./delivery.ts"

const ACK = new TextEncoder().encode("+ACK")

interface Pending {
  readonly received: Received
  readonly onConfirmed: () => void
  /** The sweep generation when it was sent. */
  readonly sentAt: number
}

interface Failure {
  readonly sequence: number
  readonly error: TransportError.TransportError
}

/**
 * Acks confirmed in the background.
 *
 * @internal
 */
export interface Confirmations {
  /**
   * Sends `+ACK` for a delivery; `onConfirmed` runs when the server has
   * applied it. Waits while `bound` acks are unconfirmed; fails when the ack
   * cannot be sent.
   */
  readonly ack: (received: Received, onConfirmed: () => void) => Effect.Effect<void, TransportError.TransportError>
  /** Waits until no ack waits for its confirmation (confirmed, refused or timed out), at most `millis`. */
  readonly settle: (millis: number) => Effect.Effect<void>
}

/**
 * Opens the runner's ack inbox; it lives, with the fibers that time out and
 * log unconfirmed acks, as long as the scope.
 *
 * @internal
 */
export const make = (
  ctx: SettleContext,
  label: string,
  bound: number
): Effect.Effect<Confirmations, TransportError.TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const client = ctx.client
    const timeoutMillis = ctx.timeoutMillis
    const prefix = createInbox()
    const start = prefix.length + 1
    // Insertion order is sending order: the sweep stops at the first ack
    // still in time.
    const pending = new Map<string, Pending>()
    const failures = yield* Queue.unbounded<Failure>()
    let counter = 0
    let generation = 0
    let room: Deferred.Deferred<void> | undefined
    let drained: Deferred.Deferred<void> | undefined

    const operation = (r: Received) => `ack ${r.info.stream}/${r.info.consumer} sequence ${r.info.streamSequence}`

    const removed = () => {
      if (room !== undefined && pending.size < bound) {
        Deferred.doneUnsafe(room, Effect.void)
        room = undefined
      }
      if (drained !== undefined && pending.size === 0) {
        Deferred.doneUnsafe(drained, Effect.void)
        drained = undefined
      }
    }

    yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          client.subscribe(`${prefix}.*`, {
            callback: (err, msg) => {
              if (err !== null) return
              const token = msg.subject.slice(start)
              const entry = pending.get(token)
              if (entry === undefined) return
              pending.delete(token)
              // The server answers an applied ack with an empty message; a
              // 503 status says nobody received it (the consumer is gone).
              if (msg.data.length === 0 && msg.headers?.code === 503) {
                Queue.offerUnsafe(failures, {
                  sequence: entry.received.info.streamSequence,
                  error: TransportError.make(new TransportError.NoResponders({ subject: entry.received.reply }))
                })
              } else {
                entry.onConfirmed()
              }
              removed()
            }
          }),
        catch: (e) => Errors.fromUnknown(e, { operation: `${label}: ack inbox` })
      }),
      (sub) => Effect.ignore(Effect.try(() => (client.isClosed() ? undefined : sub.unsubscribe())))
    )

    // Times out unconfirmed acks: each sweep is a generation; an ack is late
    // once `timeoutMillis` worth of generations passed since it was sent.
    const sweepMillis = Math.max(10, Math.min(1_000, Math.floor(timeoutMillis / 5)))
    const lateAfter = Math.ceil(timeoutMillis / sweepMillis)
    const sweep = Effect.sync(() => {
      generation++
      for (const [token, entry] of pending) {
        if (generation - entry.sentAt < lateAfter) break
        pending.delete(token)
        Queue.offerUnsafe(failures, {
          sequence: entry.received.info.streamSequence,
          error: TransportError.make(
            new TransportError.Timeout({ operation: operation(entry.received), millis: timeoutMillis })
          )
        })
      }
      removed()
    })
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(sweepMillis), sweep)))
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(failures), (f) =>
        Effect.logWarning(
          `${label}: ack of sequence ${f.sequence} failed (redelivered after the ack wait): ${f.error.message}`
        )))
    )

    const send = (received: Received, onConfirmed: () => void) =>
      Effect.try({
        try: () => {
          const token = `${++counter}`
          client.publish(received.reply, ACK, { reply: `${prefix}.${token}` })
          pending.set(token, { received, onConfirmed, sentAt: generation })
        },
        catch: (e) =>
          Errors.fromUnknown(e, {
            operation: operation(received),
            stream: received.info.stream,
            consumer: received.info.consumer,
            subject: received.reply
          })
      })

    const ack = (received: Received, onConfirmed: () => void): Effect.Effect<void, TransportError.TransportError> =>
      Effect.suspend(() => {
        if (pending.size < bound) return send(received, onConfirmed)
        const wait = room ??= Deferred.makeUnsafe<void>()
        return Effect.andThen(Deferred.await(wait), ack(received, onConfirmed))
      })

    const settle = (millis: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        // (A closed connection confirms nothing more.)
        if (pending.size === 0 || client.isClosed()) return Effect.void
        const wait = drained ??= Deferred.makeUnsafe<void>()
        return Effect.asVoid(Effect.timeoutOption(Deferred.await(wait), millis))
      })

    return { ack, settle }
  })
