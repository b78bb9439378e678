/**
 * `read` and `readRaw`: a finite, ordered snapshot of a stream.
 *
 * The end is fixed when the read starts: the stream's last sequence then
 * (or `to`). Messages come in pages from one of two sources:
 *
 * - streams with `limits` retention: an ephemeral pull consumer
 *   (`ack_policy: none`, in memory, removed when the read ends and by the
 *   server after a minute of inactivity) that starts at `from` (a sequence,
 *   or the first message stored at or after a time) and filters on
 *   `filter`; each page is a `no_wait` request, so a read never waits for
 *   new messages;
 * - `workqueue` and `interest` streams, where another consumer would
 *   change what the stream keeps (and a workqueue stream refuses an
 *   overlapping one): `STREAM.MSG.GET` with `next_by_subj`, one message at a
 *   time (nats-server 2.9 has no batched direct get).
 *
 * @since 0.1.0
 * @internal
 */
import { type EventLog, TransportError } from "@herald/transport"
import type { ConsumerConfig, ConsumerInfo, StreamInfo } from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { validatePattern } from "../bus/wire.ts"
import * as Errors from "../errors.ts"
import * as Delivery from "./delivery.ts"
import { type Env, streamInfo } from "./env.ts"
import * as Inbox from "./inbox.ts"
import { rawOfStored, StatusCodes, statusOf, storedOfStoredMsg } from "./message.ts"
import { nanos } from "./util.ts"

const consumerPageSize = 256
const getPageSize = 64
const inactiveThresholdMillis = 60_000

/** One page of stored messages, and whether more may follow. */
type Source = Effect.Effect<readonly [Array<EventLog.RawStoredMessage>, boolean], TransportError.TransportError>

interface Bounds {
  readonly stream: string
  readonly from: EventLog.Position | undefined
  readonly filter: string | undefined
  /** The last sequence to read. */
  readonly end: number
  /** Read nothing stored after this time (`to: { time }`). */
  readonly until: number | undefined
}

/** Whether a message is past the end; the read stops there. */
const pastEnd = (bounds: Bounds, sequence: number, timestamp: number) =>
  sequence > bounds.end || (bounds.until !== undefined && timestamp > bounds.until)

/** Where the ephemeral consumer starts. */
const startOf = (from: EventLog.Position | undefined): Partial<ConsumerConfig> => {
  if (from === undefined) return { deliver_policy: "all" }
  if ("sequence" in from) return { deliver_policy: "by_start_sequence", opt_start_seq: Math.max(1, Math.floor(from.sequence)) }
  return { deliver_policy: "by_start_time", opt_start_time: new Date(from.time).toISOString() }
}

/** Pages from an ephemeral consumer. */
const consumerSource = (env: Env, bounds: Bounds): Effect.Effect<Source | undefined, TransportError.TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const { stream } = bounds
    const manager = env.connection.manager
    const operation = `read ${stream}`
    const timeout = env.connection.jetstreamTimeoutMillis
    const consumer = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          manager.consumers.add(stream, {
            ack_policy: "none",
            replay_policy: "instant",
            mem_storage: true,
            inactive_threshold: nanos(inactiveThresholdMillis),
            ...startOf(bounds.from),
            ...(bounds.filter === undefined ? {} : { filter_subject: bounds.filter })
          }),
        catch: (e) => Errors.fromUnknown(e, { operation, stream, timeoutMillis: timeout })
      }),
      (ci: ConsumerInfo) => Effect.ignore(Effect.tryPromise(() => manager.consumers.delete(stream, ci.name)))
    )
    if (consumer.num_pending === 0) return undefined
    const inbox = yield* Inbox.open(env.connection.client, stream, consumer.name)
    const page: Source = Effect.gen(function*() {
      const token = yield* inbox.request({ batch: consumerPageSize, noWait: true })
      const out: Array<EventLog.RawStoredMessage> = []
      let answered = 0
      while (true) {
        const next = yield* Effect.timeoutOption(Queue.take(inbox.messages), timeout)
        if (Option.isNone(next)) {
          return yield* Effect.fail(TransportError.make(new TransportError.Timeout({ operation, millis: timeout })))
        }
        const msg = next.value
        const status = statusOf(msg)
        if (status !== undefined) {
          if (msg.subject !== token || status.code === StatusCodes.heartbeat) continue
          // 404: nothing left; 408: the request delivered what there was.
          return [out, answered > 0] as const
        }
        const received = Delivery.receive(msg)
        if (received === undefined) continue
        answered++
        const { pending, streamSequence: sequence, timestamp } = received.info
        if (pastEnd(bounds, sequence, timestamp)) return [out, false] as const
        out.push({ subject: msg.subject, stream, sequence, timestamp, raw: received.raw })
        if (sequence >= bounds.end || pending === 0) return [out, false] as const
        if (answered >= consumerPageSize) return [out, true] as const
      }
    })
    return page
  })

/** Pages of direct gets by sequence. */
const getSource = (env: Env, bounds: Bounds, first: number): Source => {
  const { stream } = bounds
  const manager = env.connection.manager
  const subject = bounds.filter ?? ">"
  const fromTime = bounds.from !== undefined && "time" in bounds.from ? bounds.from.time : undefined
  let next = bounds.from !== undefined && "sequence" in bounds.from ? Math.max(first, bounds.from.sequence) : first
  return Effect.gen(function*() {
    const out: Array<EventLog.RawStoredMessage> = []
    while (out.length < getPageSize) {
      if (next > bounds.end) return [out, false] as const
      const query = { seq: next, next_by_subj: subject }
      const stored = yield* Effect.tryPromise({
        try: () => manager.streams.getMessage(stream, query),
        catch: (e) =>
          Errors.fromUnknown(e, {
            operation: `read ${stream} from sequence ${next}`,
            stream,
            timeoutMillis: env.connection.jetstreamTimeoutMillis
          })
      })
      if (stored === null) return [out, false] as const
      const timestamp = stored.time.getTime()
      if (pastEnd(bounds, stored.seq, timestamp)) return [out, false] as const
      next = stored.seq + 1
      if (fromTime !== undefined && timestamp < fromTime) continue
      out.push({
        subject: stored.subject,
        stream,
        sequence: stored.seq,
        timestamp,
        raw: rawOfStored(storedOfStoredMsg(stored))
      })
    }
    return [out, true] as const
  })
}

const sourceOf = (
  env: Env,
  info: StreamInfo,
  bounds: Bounds
): Effect.Effect<Source | undefined, TransportError.TransportError, Scope.Scope> =>
  info.config.retention === "limits" || info.config.retention === undefined
    ? consumerSource(env, bounds)
    : Effect.succeed(getSource(env, bounds, info.state.first_seq))

type Page =
  | { readonly _tag: "More" }
  | { readonly _tag: "Fail"; readonly error: TransportError.TransportError }

const more: Page = { _tag: "More" }

/**
 * Reads stored messages; `decode` turns each into the element, or fails the
 * read after the elements before it.
 *
 * @internal
 */
export const make = <A>(
  env: Env,
  decode: (message: EventLog.RawStoredMessage) => Result.Result<A, TransportError.TransportError>
) =>
(stream: string, options?: EventLog.ReadOptions): Stream.Stream<A, TransportError.TransportError> =>
  Stream.unwrap(Effect.gen(function*() {
    const filter = options?.filter
    if (filter !== undefined) {
      const valid = validatePattern(filter)
      if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
    }
    const info = yield* streamInfo(env, stream)
    const to = options?.to
    const from = options?.from
    const bounds: Bounds = {
      stream,
      from,
      filter,
      end: to !== undefined && "sequence" in to ? Math.min(info.state.last_seq, to.sequence) : info.state.last_seq,
      until: to !== undefined && "time" in to ? to.time : undefined
    }
    if (info.state.messages === 0 || bounds.end <= 0) return Stream.empty
    if (from !== undefined && "sequence" in from && from.sequence > bounds.end) return Stream.empty
    const source = yield* sourceOf(env, info, bounds)
    if (source === undefined) return Stream.empty

    const page: Effect.Effect<readonly [Array<A>, Option.Option<Page>], TransportError.TransportError> = Effect.map(
      source,
      ([messages, hasMore]) => {
        const out: Array<A> = []
        for (const message of messages) {
          const element = decode(message)
          if (Result.isFailure(element)) return [out, Option.some<Page>({ _tag: "Fail", error: element.failure })] as const
          out.push(element.success)
        }
        return [out, hasMore ? Option.some(more) : Option.none<Page>()] as const
      }
    )
    return Stream.paginate<Page, A, TransportError.TransportError>(
      more,
      (state) => (state._tag === "Fail" ? Effect.fail(state.error) : page)
    )
  }))
