/**
 * Bounded replays of a stream: by sequence, by time, and one flow by its
 * correlation id in causal order.
 *
 * ```ts
 * const replay = yield* Replay.bySequence("ORDERS", { from: 1, pace: "instant" })
 * yield* Stream.runForEach(replay.messages, (m) => rebuild(m))
 * ```
 *
 * A replay is bounded by construction: `bySequence` and `byTime` read the
 * stream's state when they start, and a replay without `to` ends at the
 * last sequence of that moment; it never waits for messages appended later.
 * Sequences in the range that the stream no longer holds (purged by limits
 * or by `Topology.purge`, deleted one by one) are reported, never skipped
 * silently: up front in `purged` (the part before the first kept message),
 * and as `Gap` events while reading (holes between kept messages and at the
 * end; without a `filter` only, since a filter's holes are its own).
 * `events` and `messages` decode what they read; `rawEvents` and
 * `rawMessages` give the same range as stored (headers and bytes), foreign
 * messages included.
 *
 * @since 0.1.0
 */
import { CausationTree } from "@herald/identity"
import { EventLog, Foreign, type TransportError } from "@herald/transport"
import type * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as CorrelationIndex from "./CorrelationIndex.ts"
import * as ReplayError from "./ReplayError.ts"

/**
 * An inclusive range of stream sequences.
 *
 * @since 0.1.0
 * @category models
 */
export interface SequenceRange {
  readonly from: number
  readonly to: number
}

/**
 * How fast a replay emits its messages.
 *
 * - `"instant"`: as fast as they are read (the default).
 * - `"original"`: with the gaps between their stored timestamps, slept
 *   through `Clock` (so `TestClock` drives it).
 * - `{ speed }`: the original gaps divided by `speed` (2: twice as fast).
 * - `{ perSecond }`: a fixed rate.
 *
 * @since 0.1.0
 * @category models
 */
export type Pace =
  | "instant"
  | "original"
  | { readonly speed: number }
  | { readonly perSecond: number }

/**
 * Options of `bySequence` and `byTime`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Only subjects matching this pattern. */
  readonly filter?: string | undefined
  readonly pace?: Pace | undefined
}

/**
 * Where a replay is. Counted in sequences, so that a filtered replay ends at
 * `done === total` too.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  /** Sequences of the range passed so far. */
  readonly done: number
  /** Sequences in the range. */
  readonly total: number
  /** Messages emitted so far. */
  readonly messages: number
  readonly elapsedMillis: number
  /** Sequences per second so far (0 before the first). */
  readonly rate: number
  /** At the current rate (`undefined` before the first sequence). */
  readonly remainingMillis: number | undefined
  readonly finished: boolean
}

/**
 * What a replay emits: a message (`M`: decoded, or as stored), or a range
 * of sequences the stream no longer holds.
 *
 * @since 0.1.0
 * @category models
 */
export type EventOf<M extends EventLog.RawStoredMessage> =
  | { readonly _tag: "Message"; readonly message: M }
  | { readonly _tag: "Gap"; readonly from: number; readonly to: number }

/**
 * What `events` emits: a decoded message, or a gap.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = EventOf<EventLog.StoredMessage>

/**
 * What `rawEvents` emits: a message as stored (headers and bytes, Herald's
 * or foreign), or a gap.
 *
 * @since 0.1.0
 * @category models
 */
export type RawEvent = EventOf<EventLog.RawStoredMessage>

/**
 * A replay, its bounds fixed when it was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Replay {
  readonly stream: string
  /** The first sequence of the range. */
  readonly from: number
  /** The last sequence of the range (`from - 1` when the range is empty). */
  readonly to: number
  /** Sequences in the range. */
  readonly total: number
  /** Parts of the range the stream no longer held when the replay was made (before its first kept message). */
  readonly purged: ReadonlyArray<SequenceRange>
  /**
   * The messages and the gaps, in sequence order, paced. Messages are
   * decoded: one that is not a Herald envelope (a foreign one) fails the
   * stream with `DecodeError` where it is.
   */
  readonly events: Stream.Stream<Event, TransportError.TransportError>
  /** The messages alone, in sequence order, paced, decoded as in `events`. */
  readonly messages: Stream.Stream<EventLog.StoredMessage, TransportError.TransportError>
  /**
   * The messages and the gaps as `events` has them (same range, same gaps,
   * same pace), each message as stored: headers and bytes, not decoded, so
   * that foreign messages pass too (`EventLog.readRaw`). For copying a
   * range as it is.
   */
  readonly rawEvents: Stream.Stream<RawEvent, TransportError.TransportError>
  /** The messages alone, as stored, as in `rawEvents`. */
  readonly rawMessages: Stream.Stream<EventLog.RawStoredMessage, TransportError.TransportError>
  /**
   * The progress of the run of `events` (or `messages`, `rawEvents`,
   * `rawMessages`): the current value, then each change; it ends when the
   * run has finished.
   */
  readonly progress: Stream.Stream<Progress>
}

const invalid = (detail: string) => Effect.fail(ReplayError.invalid(detail))

const isSequence = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 1

const paceProblem = (pace: Pace | undefined): string | undefined => {
  if (pace === undefined || pace === "instant" || pace === "original") return undefined
  if (typeof pace === "object" && pace !== null) {
    if ("speed" in pace) {
      return typeof pace.speed === "number" && Number.isFinite(pace.speed) && pace.speed > 0
        ? undefined
        : `pace.speed must be a positive number, got ${String(pace.speed)}`
    }
    if ("perSecond" in pace) {
      return typeof pace.perSecond === "number" && Number.isFinite(pace.perSecond) && pace.perSecond > 0
        ? undefined
        : `pace.perSecond must be a positive number, got ${String(pace.perSecond)}`
    }
  }
  return `pace must be "instant", "original", { speed } or { perSecond }, got ${JSON.stringify(pace)}`
}

/** Sleeps before each message as the pace says. */
const paced = (pace: Pace | undefined) =>
<M extends EventLog.RawStoredMessage, E, R>(
  self: Stream.Stream<EventOf<M>, E, R>
): Stream.Stream<EventOf<M>, E, R> => {
  if (pace === undefined || pace === "instant") return self
  if (typeof pace === "object" && "perSecond" in pace) {
    const interval = 1000 / pace.perSecond
    return Stream.unwrap(Effect.sync(() => {
      let emitted = 0
      let start = 0
      return Stream.mapEffect(self, (event) =>
        event._tag === "Gap" ? Effect.succeed<EventOf<M>>(event) : Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          if (emitted === 0) start = now
          const due = start + emitted * interval
          emitted++
          if (due > now) yield* Effect.sleep(Duration.millis(due - now))
          return event as EventOf<M>
        }))
    }))
  }
  const speed = pace === "original" ? 1 : pace.speed
  return Stream.unwrap(Effect.sync(() => {
    let previous: number | undefined
    return Stream.mapEffect(self, (event) =>
      event._tag === "Gap" ? Effect.succeed<EventOf<M>>(event) : Effect.gen(function*() {
        const ts = event.message.timestamp
        if (previous !== undefined && ts > previous) yield* Effect.sleep(Duration.millis((ts - previous) / speed))
        previous = ts
        return event as EventOf<M>
      }))
  }))
}

interface Bounds {
  readonly stream: string
  readonly from: number
  readonly to: number
  readonly purged: ReadonlyArray<SequenceRange>
  /** Where reading starts: the first kept sequence of the range. */
  readonly readFrom: number
}

const build = (
  log: EventLog.EventLog["Service"],
  bounds: Bounds,
  options: Options | undefined
): Effect.Effect<Replay> =>
  Effect.gen(function*() {
    const total = Math.max(0, bounds.to - bounds.from + 1)
    const initial: Progress = {
      done: 0,
      total,
      messages: 0,
      elapsedMillis: 0,
      rate: 0,
      remainingMillis: undefined,
      finished: false
    }
    const ref = yield* SubscriptionRef.make(initial)
    const filtered = options?.filter !== undefined
    const purgedCount = bounds.purged.reduce((n, r) => n + r.to - r.from + 1, 0)

    /**
     * One run over the range, reading its messages with `read` (decoded or
     * raw): the purged part, then the kept messages with the holes between
     * them and at the end, paced, moving `progress`.
     */
    const walk = <M extends EventLog.RawStoredMessage>(
      read: (options: EventLog.ReadOptions) => Stream.Stream<M, TransportError.TransportError>
    ): Stream.Stream<EventOf<M>, TransportError.TransportError> =>
      Stream.unwrap(Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        let messages = 0
        const update = (done: number, finished: boolean) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const elapsedMillis = now - startedAt
            const rate = elapsedMillis > 0 ? (done * 1000) / elapsedMillis : 0
            return SubscriptionRef.set(ref, {
              done,
              total,
              messages,
              elapsedMillis,
              rate,
              remainingMillis: done === 0 ? undefined : rate > 0 ? ((total - done) * 1000) / rate : 0,
              finished
            })
          })
        const purgedEvents = Stream.fromIterable(
          bounds.purged.map((r): EventOf<M> => ({ _tag: "Gap", from: r.from, to: r.to }))
        )
        if (bounds.readFrom > bounds.to) {
          return Stream.concat(purgedEvents, Stream.fromEffectDrain(update(total, true)))
        }
        let next = bounds.readFrom
        const kept = read({
          from: { sequence: bounds.readFrom },
          to: { sequence: bounds.to },
          filter: options?.filter
        }).pipe(
          // Whole chunks at a time: the gaps before each message, then the
          // message; progress moves once per chunk (per message when paced).
          Stream.mapArray((chunk) => {
            const events: Array<EventOf<M>> = []
            for (const message of chunk) {
              if (!filtered && message.sequence > next) events.push({ _tag: "Gap", from: next, to: message.sequence - 1 })
              events.push({ _tag: "Message", message })
              next = message.sequence + 1
            }
            return events as unknown as Arr.NonEmptyReadonlyArray<EventOf<M>>
          }),
          paced(options?.pace),
          Stream.mapArrayEffect((chunk) => {
            let last: number | undefined
            for (const event of chunk) {
              if (event._tag === "Message") {
                messages++
                last = event.message.sequence
              }
            }
            return last === undefined
              ? Effect.succeed(chunk)
              : Effect.as(update(purgedCount + last - bounds.readFrom + 1, false), chunk)
          })
        )
        const tail = Stream.suspend(() =>
          !filtered && next <= bounds.to
            ? Stream.fromIterable<EventOf<M>>([{ _tag: "Gap", from: next, to: bounds.to }])
            : Stream.empty
        )
        return Stream.concat(
          Stream.concat(purgedEvents, Stream.concat(kept, tail)),
          Stream.fromEffectDrain(update(total, true))
        )
      }))

    const messagesOf = <M extends EventLog.RawStoredMessage>(
      events: Stream.Stream<EventOf<M>, TransportError.TransportError>
    ): Stream.Stream<M, TransportError.TransportError> =>
      Stream.map(
        Stream.filter(events, (e): e is Extract<EventOf<M>, { _tag: "Message" }> => e._tag === "Message"),
        (e) => e.message
      )

    const events = walk((read) => log.read(bounds.stream, read))
    const rawEvents = walk((read) => log.readRaw(bounds.stream, read))
    return {
      stream: bounds.stream,
      from: bounds.from,
      to: bounds.to,
      total,
      purged: bounds.purged,
      events,
      messages: messagesOf(events),
      rawEvents,
      rawMessages: messagesOf(rawEvents),
      progress: SubscriptionRef.changes(ref).pipe(Stream.takeUntil((p) => p.finished))
    } satisfies Replay
  })

/** The bounds of `[from, to]` against the stream as it is now. */
const boundsOf = (stream: string, from: number, to: number | undefined, info: EventLog.StreamInfo): Bounds => {
  const last = Math.min(to ?? info.lastSequence, info.lastSequence)
  const end = Math.max(last, from - 1)
  // JetStream reports the first kept sequence; an empty stream keeps none.
  const firstKept = info.messages === 0 ? info.lastSequence + 1 : info.firstSequence
  const purged: Array<SequenceRange> = []
  if (from < firstKept && from <= end) purged.push({ from, to: Math.min(firstKept - 1, end) })
  return { stream, from, to: end, purged, readFrom: Math.max(from, firstKept) }
}

/**
 * A replay of the sequences `from` to `to` (inclusive; default: the last
 * sequence when the replay is made).
 *
 * @since 0.1.0
 * @category constructors
 */
export const bySequence = (
  stream: string,
  options: Options & { readonly from?: number | undefined; readonly to?: number | undefined }
): Effect.Effect<Replay, ReplayError.ReplayError | TransportError.TransportError, EventLog.EventLog> =>
  Effect.gen(function*() {
    const from = options.from ?? 1
    if (!isSequence(from)) return yield* invalid(`from must be a positive integer sequence, got ${String(options.from)}`)
    if (options.to !== undefined && (!Number.isSafeInteger(options.to) || options.to < from - 1)) {
      return yield* invalid(`to must be an integer sequence no lower than from - 1 (${from - 1}), got ${String(options.to)}`)
    }
    const problem = paceProblem(options.pace)
    if (problem !== undefined) return yield* invalid(problem)
    const log = yield* EventLog.EventLog
    const info = yield* log.info(stream)
    return yield* build(log, boundsOf(stream, from, options.to, info), options)
  })

const toMillis = (t: number | Date): number => (t instanceof Date ? t.getTime() : t)

/**
 * A replay of the messages stored from `from` to `to` (inclusive; Unix epoch
 * milliseconds or `Date`; default: to the last message when the replay is
 * made). Both ends are turned into sequences when the replay is made: the
 * first message stored at or after `from`, the last one stored at or before
 * `to`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const byTime = (
  stream: string,
  options: Options & { readonly from: number | Date; readonly to?: number | Date | undefined }
): Effect.Effect<Replay, ReplayError.ReplayError | TransportError.TransportError, EventLog.EventLog> =>
  Effect.gen(function*() {
    const from = toMillis(options.from)
    const to = options.to === undefined ? undefined : toMillis(options.to)
    if (!Number.isFinite(from)) return yield* invalid(`from must be a time, got ${String(options.from)}`)
    if (to !== undefined && (!Number.isFinite(to) || to < from)) {
      return yield* invalid(`to must be a time no earlier than from, got ${String(options.to)}`)
    }
    const problem = paceProblem(options.pace)
    if (problem !== undefined) return yield* invalid(problem)
    const log = yield* EventLog.EventLog
    const info = yield* log.info(stream)
    const firstAt = (time: number) =>
      Effect.map(
        Stream.runHead(log.readRaw(stream, { from: { time }, to: { sequence: info.lastSequence } })),
        Option.map((m) => m.sequence)
      )
    if (info.messages === 0) return yield* build(log, boundsOf(stream, info.lastSequence + 1, undefined, info), options)
    const start = Option.getOrElse(yield* firstAt(from), () => info.lastSequence + 1)
    const end = to === undefined
      ? info.lastSequence
      : Option.match(yield* firstAt(to + 1), { onNone: () => info.lastSequence, onSome: (s) => s - 1 })
    return yield* build(log, { ...boundsOf(stream, start, Math.max(end, start - 1), info), purged: [] }, options)
  })

/**
 * Orders messages of one flow causally: parents before children, and among
 * the messages whose parents are all placed, the lowest (stream, sequence)
 * first. Messages whose cause is not among them (orphans) are placed as
 * roots; members of a causation cycle come last, in sequence order. Orphans
 * and cycles are reported as `CausationTree` reports them.
 *
 * @since 0.1.0
 * @category ordering
 */
export const causalOrder = (messages: ReadonlyArray<EventLog.StoredMessage>): Flow => {
  const sorted = [...messages].sort(bySequence_)
  const tree = CausationTree.make(sorted, (m) => m.envelope.identity)
  const byId = new Map<string, EventLog.StoredMessage>()
  for (const m of sorted) if (!byId.has(m.envelope.identity.messageId)) byId.set(m.envelope.identity.messageId, m)
  const unique = [...byId.values()]
  const children = new Map<string, Array<EventLog.StoredMessage>>()
  const ready: Array<EventLog.StoredMessage> = []
  for (const m of unique) {
    const { messageId, causationId } = m.envelope.identity
    const parent = causationId as string
    if (parent !== messageId && byId.has(parent)) {
      const list = children.get(parent) ?? []
      list.push(m)
      children.set(parent, list)
    } else {
      ready.push(m)
    }
  }
  const ordered: Array<EventLog.StoredMessage> = []
  const placed = new Set<string>()
  // a small sorted frontier: flows are small (tens to thousands of messages)
  while (ready.length > 0) {
    ready.sort(bySequence_)
    const m = ready.shift()!
    ordered.push(m)
    placed.add(m.envelope.identity.messageId)
    for (const child of children.get(m.envelope.identity.messageId) ?? []) ready.push(child)
  }
  const cyclic = unique.filter((m) => !placed.has(m.envelope.identity.messageId))
  return {
    messages: [...ordered, ...cyclic],
    orphans: tree.orphans.map((n) => n.value),
    cycles: tree.cycles,
    duplicates: tree.duplicates
  }
}

const bySequence_ = (a: EventLog.StoredMessage, b: EventLog.StoredMessage): number =>
  a.stream === b.stream ? a.sequence - b.sequence : a.timestamp - b.timestamp || (a.stream < b.stream ? -1 : 1)

/**
 * One flow's messages in causal order, with what does not fit a tree.
 *
 * @since 0.1.0
 * @category models
 */
export interface Flow {
  /** Parents before children; ties by stream sequence. */
  readonly messages: ReadonlyArray<EventLog.StoredMessage>
  /** Messages whose cause is not in the flow (placed as roots). */
  readonly orphans: ReadonlyArray<EventLog.StoredMessage>
  /** Causation cycles, as message ids (their members come last in `messages`). */
  readonly cycles: ReadonlyArray<ReadonlyArray<string>>
  /** Copies of a message id seen before (left out of `messages`). */
  readonly duplicates: ReadonlyArray<EventLog.StoredMessage>
}

/**
 * Every message of one flow found by scanning a window of a stream: reads
 * the whole window (a sequence or time range, bounded like `bySequence` and
 * `byTime`) and keeps the messages whose correlation id matches. It costs
 * the whole window; use a `CorrelationIndex` to look flows up by id.
 *
 * @since 0.1.0
 * @category correlation
 */
export const scanCorrelation = (
  stream: string,
  correlationId: string,
  window:
    | { readonly from?: number | undefined; readonly to?: number | undefined; readonly filter?: string | undefined }
    | {
      readonly fromTime: number | Date
      readonly toTime?: number | Date | undefined
      readonly filter?: string | undefined
    }
): Effect.Effect<Flow, ReplayError.ReplayError | TransportError.TransportError, EventLog.EventLog> =>
  Effect.gen(function*() {
    const replay = "fromTime" in window
      ? yield* byTime(stream, { from: window.fromTime, to: window.toTime, filter: window.filter })
      : yield* bySequence(stream, { from: window.from, to: window.to, filter: window.filter })
    const found = yield* Stream.runCollect(
      Stream.filter(replay.messages, (m) => m.envelope.identity.correlationId === correlationId)
    )
    return causalOrder(Array.from(found))
  })

/**
 * A flow found through the correlation index: the `Flow` of the messages
 * still in their streams, and the entries whose message is not.
 *
 * @since 0.1.0
 * @category models
 */
export interface CorrelatedFlow extends Flow {
  /** The index's entries of the flow, in (stream, sequence) order. */
  readonly entries: ReadonlyArray<CorrelationIndex.Entry>
  /**
   * Entries whose message is no longer at its sequence (purged, deleted, or
   * the stream recreated and the sequence reused by another message), in
   * (stream, sequence) order.
   */
  readonly missing: ReadonlyArray<CorrelationIndex.Entry>
}

/**
 * Options of `byCorrelation`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CorrelationOptions {
  /** Only the messages of this stream. */
  readonly stream?: string | undefined
  /**
   * How to decode messages without Herald's headers: the `foreign` the
   * index ran with. Without it such a message fails with `DecodeError`, as
   * `EventLog.read` does.
   */
  readonly foreign?: Foreign.Options | undefined
  /** Reads of the streams at once (default 8). */
  readonly concurrency?: number | undefined
}

/**
 * Entries closer than this in one stream are fetched by one read of the
 * range between them: reading a few messages too many costs less than
 * another read.
 */
const rangeGap = 16

/** The entries (in (stream, sequence) order) in runs of one stream, each read at once. */
const rangesOf = (entries: ReadonlyArray<CorrelationIndex.Entry>) => {
  const ranges: Array<{ stream: string; from: number; to: number }> = []
  for (const entry of entries) {
    const last = ranges[ranges.length - 1]
    if (last !== undefined && last.stream === entry.stream && entry.sequence - last.to <= rangeGap) {
      last.to = entry.sequence
    } else {
      ranges.push({ stream: entry.stream, from: entry.sequence, to: entry.sequence })
    }
  }
  return ranges
}

/** The messages stored in a range, by sequence, decoded as the index's runner decoded them. */
const fetchRange = (
  log: EventLog.EventLog["Service"],
  range: { readonly stream: string; readonly from: number; readonly to: number },
  wanted: ReadonlySet<string>,
  foreign: Foreign.Options | undefined
): Effect.Effect<ReadonlyArray<EventLog.StoredMessage>, TransportError.TransportError> =>
  Effect.flatMap(
    // one message: one request (no consumer); a run: one ordered read
    range.from === range.to
      ? Effect.map(log.getRaw(range.stream, range.from), (found) => found._tag === "Some" ? [found.value] : [])
      : Stream.runCollect(
        Stream.filter(
          log.readRaw(range.stream, { from: { sequence: range.from }, to: { sequence: range.to } }),
          (raw) => wanted.has(`${raw.sequence} ${raw.stream}`)
        )
      ),
    (raws) =>
      Effect.forEach(Array.from(raws), (raw) =>
        Effect.map(
          Effect.fromResult(Foreign.decodeRaw(raw.raw, foreign, () => ({
            subject: raw.subject,
            kind: "event",
            fallbackId: () => `${raw.stream}:${raw.sequence}`,
            now: raw.timestamp
          }))),
          (envelope): EventLog.StoredMessage => ({ ...raw, envelope })
        ))
  )

/**
 * Every message of one flow, found through the `CorrelationIndex`: looks
 * the correlation id up, fetches each entry's message by its stream and
 * sequence, and orders them with `causalOrder`. An entry whose message is
 * no longer there (or whose sequence now holds another message id) is
 * reported in `missing`. The cost is one lookup and one read per run of
 * the flow's messages (messages at most 16 sequences apart in one stream
 * are read together; a message alone is one `getRaw`), whatever the size
 * of the streams.
 *
 * @since 0.1.0
 * @category correlation
 */
export const byCorrelation = (
  correlationId: string,
  options?: CorrelationOptions
): Effect.Effect<
  CorrelatedFlow,
  ReplayError.ReplayError | TransportError.TransportError,
  CorrelationIndex.CorrelationIndex | EventLog.EventLog
> =>
  Effect.gen(function*() {
    const concurrency = options?.concurrency ?? 8
    if (!(Number.isSafeInteger(concurrency) && concurrency >= 1)) {
      return yield* invalid(`concurrency must be a positive integer, got ${String(options?.concurrency)}`)
    }
    const index = yield* CorrelationIndex.CorrelationIndex
    const log = yield* EventLog.EventLog
    const entries = yield* index.lookup(correlationId, { stream: options?.stream })
    const wanted = new Set(entries.map((e) => `${e.sequence} ${e.stream}`))
    const fetched = yield* Effect.forEach(
      rangesOf(entries),
      (range) => fetchRange(log, range, wanted, options?.foreign),
      { concurrency }
    )
    const stored = new Map<string, EventLog.StoredMessage>()
    for (const messages of fetched) for (const m of messages) stored.set(`${m.sequence} ${m.stream}`, m)
    const found: Array<EventLog.StoredMessage> = []
    const missing: Array<CorrelationIndex.Entry> = []
    for (const entry of entries) {
      const message = stored.get(`${entry.sequence} ${entry.stream}`)
      if (message !== undefined && message.envelope.identity.messageId === entry.messageId) {
        found.push(message)
      } else {
        missing.push(entry)
      }
    }
    return { ...causalOrder(found), entries, missing }
  })
