/**
 * Pull requests without nats.js's consumer iterators: a scoped inbox
 * subscription (`<inbox>.*`) and `$JS.API.CONSUMER.MSG.NEXT` requests whose
 * reply subjects are tokens under it, so that the deliveries and status
 * messages of each request are told apart.
 *
 * nats.js 3.4 refuses `expires` below one second in `next`, `fetch` and
 * `consume` (`InvalidArgumentError: expires must be at least 1000ms`), and
 * `pull` honours any `expires`; the raw requests also give the runner
 * control over batches, heartbeats and recovery.
 *
 * @since 0.1.0
 * @internal
 */
import { TransportError } from "@herald/transport"
import { createInbox, type Msg, type NatsConnection as Client } from "@nats-io/nats-core"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Errors from "../errors.ts"
import { nanos } from "./util.ts"

const encoder = new TextEncoder()

/**
 * The body of a pull request.
 *
 * @internal
 */
export interface PullRequest {
  readonly batch: number
  /** Milliseconds. */
  readonly expires?: number | undefined
  readonly noWait?: boolean | undefined
  /** Milliseconds. */
  readonly heartbeat?: number | undefined
}

/**
 * A scoped pull inbox.
 *
 * @internal
 */
export interface Inbox {
  /** Everything that arrives on `<prefix>.*`. */
  readonly messages: Queue.Queue<Msg>
  /** Sends a pull request; returns its reply subject. */
  readonly request: (body: PullRequest) => Effect.Effect<string, TransportError.TransportError>
}

/**
 * The pull request subject of a consumer.
 *
 * @internal
 */
export const nextSubject = (stream: string, consumer: string): string =>
  `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`

/**
 * Encodes a pull request as JetStream expects it (durations in nanoseconds).
 *
 * @internal
 */
export const encodeRequest = (body: PullRequest): Uint8Array =>
  encoder.encode(JSON.stringify({
    batch: body.batch,
    ...(body.expires === undefined ? {} : { expires: nanos(body.expires) }),
    ...(body.noWait === true ? { no_wait: true } : {}),
    ...(body.heartbeat === undefined ? {} : { idle_heartbeat: nanos(body.heartbeat) })
  }))

/**
 * Opens a pull inbox for a consumer, closed with the scope. Closing it ends
 * every request still open: nats-server drops a waiting pull request whose
 * reply subject lost its interest rather than deliver to it (measured on
 * 2.9.10: a request left open by an unsubscribed inbox took no message, and
 * the message went to the next request with delivery count 1).
 *
 * @internal
 */
export const open = (
  client: Client,
  stream: string,
  consumer: string
): Effect.Effect<Inbox, TransportError.TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const messages = yield* Queue.unbounded<Msg>()
    const prefix = createInbox()
    yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          client.subscribe(`${prefix}.*`, {
            callback: (err, msg) => {
              if (err === null) Queue.offerUnsafe(messages, msg)
            }
          }),
        catch: (e) => Errors.fromUnknown(e, { operation: `pull ${stream}/${consumer}`, stream, consumer })
      }),
      (sub) => Effect.ignore(Effect.try(() => (client.isClosed() ? undefined : sub.unsubscribe())))
    )
    let counter = 0
    const subject = nextSubject(stream, consumer)
    const request = (body: PullRequest) =>
      Effect.suspend(() => {
        const reply = `${prefix}.${++counter}`
        return Effect.try({
          try: () => {
            client.publish(subject, encodeRequest(body), { reply })
            return reply
          },
          catch: (e) => Errors.fromUnknown(e, { operation: `pull ${stream}/${consumer}`, stream, consumer })
        })
      })
    return { messages, request }
  })
