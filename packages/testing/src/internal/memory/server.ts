/**
 * The in-memory "server" behind `MemoryTransport`: one per layer build,
 * shared by the Bus, the EventLog and the Topology, like one nats-server.
 *
 * Every state change is a plain synchronous method: the JavaScript runtime is
 * single-threaded and no method yields in the middle of an update, so no lock
 * is needed. Waiting (pullers, requests) is done by the service modules with
 * `Signal`s; time comes from the `Clock` captured when the layer is built, so
 * that a `TestClock` drives ack waits, backoff, max age and dedupe windows.
 *
 * A background "ticker" fiber (owned by the layer's scope) sleeps until the
 * next ack deadline or nak delay, then makes redeliveries due (waking the
 * pullers of that consumer) and dead-letters the messages that exhausted
 * their `maxDeliver`, like the server's MAX_DELIVERIES advisory.
 *
 * @since 0.1.0
 * @internal
 */
import { OverlapGuard, SubjectPattern, SubjectTrie } from "@herald/subject"
import { ConsumerPolicy, DeadLetter, Envelope, EventLog, Foreign, Topology, TopologyConfig, TransportError, Wire } from "@herald/transport"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Signal } from "./signal.ts"
import { error, validateHeaders, validateSubject } from "./util.ts"

// -----------------------------------------------------------------------------
// options
// -----------------------------------------------------------------------------

/**
 * Options of one in-memory server.
 *
 * @since 0.1.0
 * @internal
 */
export interface Options {
  /** The largest payload (header block plus body) accepted, in bytes (default 1 MiB, as nats-server). */
  readonly maxPayload: number
}

/**
 * @since 0.1.0
 * @internal
 */
export const defaultOptions: Options = { maxPayload: 1024 * 1024 }

// -----------------------------------------------------------------------------
// core NATS
// -----------------------------------------------------------------------------

/**
 * What a core subscription receives: the raw message and its decoding,
 * computed once per publish.
 *
 * @since 0.1.0
 * @internal
 */
export interface Inbound {
  readonly subject: string
  readonly raw: Wire.RawMessage
  readonly replyTo: string | undefined
  readonly decoded: Result.Result<Envelope.Envelope, TransportError.TransportError>
}

/**
 * A core subscription.
 *
 * @since 0.1.0
 * @internal
 */
export interface Subscription {
  readonly pattern: SubjectPattern.SubjectPattern
  readonly queue: string | undefined
  readonly push: (message: Inbound) => void
}

// -----------------------------------------------------------------------------
// streams and consumers
// -----------------------------------------------------------------------------

/**
 * A message stored in a stream.
 *
 * @since 0.1.0
 * @internal
 */
export interface StoredEntry {
  readonly sequence: number
  readonly subject: string
  readonly raw: Wire.RawMessage
  readonly timestamp: number
  /** Bytes counted against `maxBytes`: subject, header block and body. */
  readonly size: number
  decoded: Result.Result<Envelope.Envelope, TransportError.TransportError> | undefined
}

/**
 * @since 0.1.0
 * @internal
 */
export interface StreamState {
  readonly name: string
  config: Topology.StreamConfig
  norm: TopologyConfig.NormalStream
  patterns: ReadonlyArray<SubjectPattern.SubjectPattern>
  /** In sequence order (insertion order of the map). */
  readonly messages: Map<number, StoredEntry>
  bytes: number
  lastSeq: number
  /** Stored sequences of each subject, ascending. */
  readonly bySubject: Map<string, Array<number>>
  /** Message ids inside the duplicate window, oldest first. */
  readonly dedupe: Map<string, { readonly seq: number; readonly at: number }>
  readonly consumers: Map<string, ConsumerState>
  deleted: boolean
}

/**
 * A message delivered and not yet acknowledged.
 *
 * @since 0.1.0
 * @internal
 */
export interface PendingEntry {
  readonly seq: number
  deliveries: number
  /** Ack deadline, or the time a nak'd message becomes due again. */
  deadline: number
  naked: boolean
  /** Waiting for redelivery. */
  due: boolean
}

/**
 * @since 0.1.0
 * @internal
 */
export interface ConsumerState {
  readonly name: string
  readonly stream: StreamState
  config: Topology.ConsumerConfig
  norm: TopologyConfig.NormalConsumer
  filter: SubjectPattern.SubjectPattern | undefined
  /** The next stream sequence to consider for a first delivery. */
  cursor: number
  /** `LastPerSubject`: below `floor` only the sequences in `seqs` are delivered. */
  lastPerSubject: { readonly floor: number; readonly seqs: Set<number> } | undefined
  /** Matching messages not yet delivered. */
  numPending: number
  readonly pending: Map<number, PendingEntry>
  dueCount: number
  /** Lower bound of the deadlines of pending entries that are not due. */
  nextDeadline: number
  deliveredStream: number
  consumerSeq: number
  readonly signal: Signal
  deleted: boolean
  /** A dead-letter subject set by a running `consume`. */
  deadLetterOverride: string | undefined
}

/**
 * Identifies one delivery; the first of ack, nak and term takes effect.
 *
 * @since 0.1.0
 * @internal
 */
export interface Token {
  readonly seq: number
  readonly deliveryCount: number
  settled: boolean
}

/**
 * A delivery taken from a consumer, before it is wrapped as an
 * `EventLog.Delivery`.
 *
 * @since 0.1.0
 * @internal
 */
export interface Taken {
  readonly consumer: ConsumerState
  readonly entry: StoredEntry
  /** The envelope, or why the stored message is not one (the runner settles it with `Settlement`). */
  readonly decoded: Result.Result<Envelope.Envelope, TransportError.TransportError>
  readonly token: Token
  readonly consumerSequence: number
  readonly pending: number
}

/**
 * What `take` returns: deliveries, valid envelopes or not.
 *
 * @since 0.1.0
 * @internal
 */
export interface TakeResult {
  readonly taken: ReadonlyArray<Taken>
}

/**
 * How a delivery is settled.
 *
 * @since 0.1.0
 * @internal
 */
export type Settlement =
  | { readonly _tag: "Ack" }
  | { readonly _tag: "Nak"; readonly delayMs: number }
  | { readonly _tag: "Term" }

const conflict = (detail: string) => error(new TransportError.TopologyConflict({ detail }))
const invalidConfig = (detail: string) => error(new TransportError.InvalidConfig({ detail }))
const streamNotFound = (stream: string) => error(new TransportError.StreamNotFound({ stream }))
const consumerNotFound = (stream: string, consumer: string) =>
  error(new TransportError.ConsumerNotFound({ stream, consumer }))

const firstKey = <K, V>(map: Map<K, V>): K | undefined => {
  for (const key of map.keys()) return key
  return undefined
}

const removeSorted = (array: Array<number>, value: number): void => {
  if (array.length > 0 && array[0] === value) {
    array.shift()
    return
  }
  let low = 0
  let high = array.length - 1
  while (low <= high) {
    const mid = (low + high) >>> 1
    const v = array[mid]!
    if (v === value) {
      array.splice(mid, 1)
      return
    }
    if (v < value) low = mid + 1
    else high = mid - 1
  }
}

const numberHeader = (raw: Wire.RawMessage, name: string): number | undefined => {
  const value = Wire.header(raw, name)
  if (value === undefined || value === "") return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

// -----------------------------------------------------------------------------
// the server
// -----------------------------------------------------------------------------

/**
 * One in-memory server.
 *
 * @since 0.1.0
 * @internal
 */
export class Server {
  readonly subscriptions = SubjectTrie.make<Subscription>()
  private readonly queueCounters = new Map<string, number>()
  readonly streams = new Map<string, StreamState>()
  private inboxCounter = 0
  private idCounter = 0
  /** The time the ticker sleeps until (Infinity: idle). */
  private armedAt = Number.POSITIVE_INFINITY
  private readonly tickerSignal = new Signal()
  private logs: Array<Effect.Effect<void>> = []
  private readonly closers = new Set<() => void>()
  closed = false

  readonly clock: Clock.Clock
  readonly options: Options

  constructor(clock: Clock.Clock, options: Options) {
    this.clock = clock
    this.options = options
  }

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** Sleeps on the server's clock. */
  sleep(ms: number): Effect.Effect<void> {
    return this.clock.sleep(Duration.millis(Math.max(0, ms)))
  }

  /** A fresh reply subject. */
  newInbox(): string {
    return `_INBOX.memory.${++this.inboxCounter}`
  }

  /** A fresh message id, for the envelopes the transport writes itself. */
  newId(prefix: string): string {
    return `${prefix}-${++this.idCounter}`
  }

  /** Queues a log line, written by `flushLogs`. */
  log(effect: Effect.Effect<void>): void {
    this.logs.push(effect)
  }

  /** Writes the queued log lines. */
  readonly flushLogs: Effect.Effect<void> = Effect.suspend(() => {
    if (this.logs.length === 0) return Effect.void
    const logs = this.logs
    this.logs = []
    return Effect.forEach(logs, (l) => l, { discard: true })
  })

  /** Registers something to do when the server shuts down (ending subscriptions). */
  onClose(f: () => void): () => void {
    this.closers.add(f)
    return () => this.closers.delete(f)
  }

  /** Shuts the server down: ends subscriptions, wakes and fails waiters. */
  close(): void {
    this.closed = true
    for (const f of Array.from(this.closers)) f()
    this.closers.clear()
    for (const stream of this.streams.values()) {
      for (const consumer of stream.consumers.values()) consumer.signal.notify()
    }
  }

  // ---------------------------------------------------------------------------
  // core NATS
  // ---------------------------------------------------------------------------

  addSubscription(subscription: Subscription): void {
    this.subscriptions.add(subscription.pattern, subscription)
  }

  removeSubscription(subscription: Subscription): void {
    this.subscriptions.remove(subscription.pattern, subscription)
  }

  hasSubscribers(subject: string): boolean {
    return this.subscriptions.has(subject)
  }

  /**
   * Delivers to core subscribers: every plain subscriber, and one member of
   * each queue group, round-robin.
   */
  fanOut(subject: string, raw: Wire.RawMessage, replyTo: string | undefined): void {
    const matched = this.subscriptions.match(subject)
    if (matched.length === 0) return
    const message: Inbound = { subject, raw, replyTo, decoded: Wire.decodeRaw(raw) }
    let groups: Map<string, Array<Subscription>> | undefined = undefined
    for (const subscription of matched) {
      if (subscription.queue === undefined) {
        subscription.push(message)
      } else {
        if (groups === undefined) groups = new Map()
        const members = groups.get(subscription.queue)
        if (members === undefined) groups.set(subscription.queue, [subscription])
        else members.push(subscription)
      }
    }
    if (groups === undefined) return
    for (const [queue, members] of groups) {
      const n = this.queueCounters.get(queue) ?? 0
      this.queueCounters.set(queue, n + 1)
      members[n % members.length]!.push(message)
    }
  }

  private checkPayload(raw: Wire.RawMessage): Result.Result<number, TransportError.TransportError> {
    const size = Wire.payloadSize(raw)
    return size > this.options.maxPayload
      ? Result.fail(error(new TransportError.MessageTooLarge({ size, max: this.options.maxPayload })))
      : Result.succeed(size)
  }

  /**
   * A core publish: delivered to subscribers, and stored (silently, without
   * an acknowledgement) by the stream that captures the subject, if any.
   */
  publish(subject: string, raw: Wire.RawMessage, replyTo?: string): Result.Result<void, TransportError.TransportError> {
    if (this.closed) return Result.fail(error(new TransportError.Closed({ detail: "memory transport is closed" })))
    const valid = validateSubject(subject)
    if (Result.isFailure(valid)) return Result.fail(valid.failure)
    const headers = validateHeaders(raw)
    if (Result.isFailure(headers)) return Result.fail(headers.failure)
    const size = this.checkPayload(raw)
    if (Result.isFailure(size)) return Result.fail(size.failure)
    const stream = this.captureStream(subject)
    if (stream !== undefined) this.store(stream, subject, raw, size.success, undefined)
    this.fanOut(subject, raw, replyTo)
    return Result.void
  }

  // ---------------------------------------------------------------------------
  // streams
  // ---------------------------------------------------------------------------

  captureStream(subject: string): StreamState | undefined {
    for (const stream of this.streams.values()) {
      for (const pattern of stream.patterns) {
        if (SubjectPattern.matches(pattern, subject)) return stream
      }
    }
    return undefined
  }

  getStream(name: string): Result.Result<StreamState, TransportError.TransportError> {
    if (this.closed) return Result.fail(error(new TransportError.Closed({ detail: "memory transport is closed" })))
    const stream = this.streams.get(name)
    return stream === undefined ? Result.fail(streamNotFound(name)) : Result.succeed(stream)
  }

  getConsumer(streamName: string, name: string): Result.Result<ConsumerState, TransportError.TransportError> {
    const stream = this.getStream(streamName)
    if (Result.isFailure(stream)) return Result.fail(stream.failure)
    const consumer = stream.success.consumers.get(name)
    return consumer === undefined ? Result.fail(consumerNotFound(streamName, name)) : Result.succeed(consumer)
  }

  /** Fails when the consumer (or its stream) was deleted, or the server closed. */
  checkLive(consumer: ConsumerState): Result.Result<void, TransportError.TransportError> {
    if (this.closed) return Result.fail(error(new TransportError.Closed({ detail: "memory transport is closed" })))
    if (consumer.stream.deleted) return Result.fail(streamNotFound(consumer.stream.name))
    if (consumer.deleted) return Result.fail(consumerNotFound(consumer.stream.name, consumer.name))
    return Result.void
  }

  /**
   * A JetStream publish: validated, stored by the stream that captures the
   * subject and acknowledged; delivered to core subscribers as well, as the
   * server does with any message it receives.
   */
  append(
    subject: string,
    raw: Wire.RawMessage,
    options: EventLog.AppendOptions | undefined
  ): Result.Result<EventLog.AppendResult, TransportError.TransportError> {
    if (this.closed) return Result.fail(error(new TransportError.Closed({ detail: "memory transport is closed" })))
    const valid = validateSubject(subject)
    if (Result.isFailure(valid)) return Result.fail(valid.failure)
    const headers = validateHeaders(raw)
    if (Result.isFailure(headers)) return Result.fail(headers.failure)
    const size = this.checkPayload(raw)
    if (Result.isFailure(size)) return Result.fail(size.failure)
    const stream = this.captureStream(subject)
    const result = stream === undefined
      ? Result.fail(error(new TransportError.NoStreamForSubject({ subject })))
      : this.store(stream, subject, raw, size.success, options)
    this.fanOut(subject, raw, undefined)
    return result
  }

  /** Removes the messages older than the stream's max age. */
  expire(stream: StreamState, now: number): void {
    const maxAge = stream.norm.maxAgeMillis
    if (maxAge <= 0) return
    for (const entry of stream.messages.values()) {
      if (entry.timestamp + maxAge > now) break
      this.removeMessage(stream, entry.sequence)
    }
  }

  private pruneDedupe(stream: StreamState, now: number): void {
    const window = stream.norm.duplicateWindowMillis
    for (const [id, seen] of stream.dedupe) {
      if (seen.at + window > now) break
      stream.dedupe.delete(id)
    }
  }

  private store(
    stream: StreamState,
    subject: string,
    raw: Wire.RawMessage,
    payload: number,
    options: EventLog.AppendOptions | undefined
  ): Result.Result<EventLog.AppendResult, TransportError.TransportError> {
    const now = this.now()
    this.expire(stream, now)
    const norm = stream.norm
    // Dedupe first: a duplicate answers `duplicate: true` whatever it expects.
    const msgId = Wire.header(raw, Wire.HeaderNames.natsMsgId)
    if (msgId !== undefined && msgId !== "") {
      this.pruneDedupe(stream, now)
      const seen = stream.dedupe.get(msgId)
      if (seen !== undefined) return Result.succeed({ stream: stream.name, sequence: seen.seq, duplicate: true })
    }
    const expectedStream = options?.expectedStream ?? Wire.header(raw, Wire.HeaderNames.expectedStream)
    if (expectedStream !== undefined && expectedStream !== "" && expectedStream !== stream.name) {
      return Result.fail(
        error(
          new TransportError.WrongStream({ subject, expected: expectedStream, actual: stream.name })
        )
      )
    }
    const expectedLast = options?.expectedLastSequence ?? numberHeader(raw, Wire.HeaderNames.expectedLastSequence)
    if (expectedLast !== undefined && expectedLast !== stream.lastSeq) {
      return Result.fail(
        error(
          new TransportError.WrongLastSequence({
            stream: stream.name,
            expected: expectedLast,
            actual: stream.lastSeq,
            scope: "stream"
          })
        )
      )
    }
    const expectedSubject = options?.expectedLastSubjectSequence ??
      numberHeader(raw, Wire.HeaderNames.expectedLastSubjectSequence)
    if (expectedSubject !== undefined) {
      const seqs = stream.bySubject.get(subject)
      const actual = seqs === undefined || seqs.length === 0 ? 0 : seqs[seqs.length - 1]!
      if (actual !== expectedSubject) {
        return Result.fail(
          error(
            new TransportError.WrongLastSequence({
              stream: stream.name,
              expected: expectedSubject,
              actual,
              scope: "subject"
            })
          )
        )
      }
    }
    if (norm.maxMessageSize > 0 && payload > norm.maxMessageSize) {
      return Result.fail(error(new TransportError.MessageTooLarge({ size: payload, max: norm.maxMessageSize })))
    }
    const size = Wire.utf8Length(subject) + payload
    if (norm.discard === "new") {
      if (norm.maxMessages > 0 && stream.messages.size + 1 > norm.maxMessages) {
        return Result.fail(error(new TransportError.LimitExceeded({ stream: stream.name, limit: "maxMessages" })))
      }
      if (norm.maxBytes > 0 && stream.bytes + size > norm.maxBytes) {
        return Result.fail(error(new TransportError.LimitExceeded({ stream: stream.name, limit: "maxBytes" })))
      }
    }
    const sequence = ++stream.lastSeq
    if (msgId !== undefined && msgId !== "") stream.dedupe.set(msgId, { seq: sequence, at: now })
    const result: EventLog.AppendResult = { stream: stream.name, sequence, duplicate: false }
    // Interest retention: with nobody interested the message is not kept.
    if (norm.retention === "interest" && !this.anyConsumerMatches(stream, subject)) return Result.succeed(result)
    const entry: StoredEntry = { sequence, subject, raw, timestamp: now, size, decoded: undefined }
    stream.messages.set(sequence, entry)
    stream.bytes += size
    const seqs = stream.bySubject.get(subject)
    if (seqs === undefined) stream.bySubject.set(subject, [sequence])
    else seqs.push(sequence)
    for (const consumer of stream.consumers.values()) {
      if (sequence >= consumer.cursor && this.eligible(consumer, entry)) {
        consumer.numPending++
        consumer.signal.notify()
      }
    }
    this.enforceLimits(stream)
    return Result.succeed(result)
  }

  /** Applies maxMessagesPerSubject, maxMessages and maxBytes, removing the oldest. */
  enforceLimits(stream: StreamState): void {
    const norm = stream.norm
    if (norm.maxMessagesPerSubject > 0) {
      for (const seqs of Array.from(stream.bySubject.values())) {
        while (seqs.length > norm.maxMessagesPerSubject) this.removeMessage(stream, seqs[0]!)
      }
    }
    if (norm.maxMessages > 0) {
      while (stream.messages.size > norm.maxMessages) this.removeMessage(stream, firstKey(stream.messages)!)
    }
    if (norm.maxBytes > 0) {
      while (stream.bytes > norm.maxBytes && stream.messages.size > 0) {
        this.removeMessage(stream, firstKey(stream.messages)!)
      }
    }
  }

  /** Removes one stored message, updating every consumer's counts. */
  removeMessage(stream: StreamState, sequence: number): void {
    const entry = stream.messages.get(sequence)
    if (entry === undefined) return
    stream.messages.delete(sequence)
    stream.bytes -= entry.size
    const seqs = stream.bySubject.get(entry.subject)
    if (seqs !== undefined) {
      removeSorted(seqs, sequence)
      if (seqs.length === 0) stream.bySubject.delete(entry.subject)
    }
    for (const consumer of stream.consumers.values()) {
      if (sequence >= consumer.cursor) {
        if (this.eligible(consumer, entry)) consumer.numPending--
      } else {
        const pending = consumer.pending.get(sequence)
        if (pending !== undefined) {
          consumer.pending.delete(sequence)
          if (pending.due) consumer.dueCount--
          consumer.signal.notify()
        }
      }
    }
  }

  private anyConsumerMatches(stream: StreamState, subject: string): boolean {
    for (const consumer of stream.consumers.values()) {
      if (consumer.filter === undefined || SubjectPattern.matches(consumer.filter, subject)) return true
    }
    return false
  }

  /** Is the message one the consumer delivers (filter, last-per-subject)? */
  eligible(consumer: ConsumerState, entry: StoredEntry): boolean {
    if (consumer.filter !== undefined && !SubjectPattern.matches(consumer.filter, entry.subject)) return false
    const lps = consumer.lastPerSubject
    return lps === undefined || entry.sequence >= lps.floor || lps.seqs.has(entry.sequence)
  }

  /** Does some consumer still need the message (interest retention)? */
  private hasInterest(stream: StreamState, entry: StoredEntry): boolean {
    for (const consumer of stream.consumers.values()) {
      if (!this.eligible(consumer, entry)) continue
      if (entry.sequence >= consumer.cursor || consumer.pending.has(entry.sequence)) return true
    }
    return false
  }

  /** Removes the messages nobody is interested in any more (interest retention). */
  private sweepInterest(stream: StreamState): void {
    if (stream.norm.retention !== "interest") return
    for (const entry of Array.from(stream.messages.values())) {
      if (!this.hasInterest(stream, entry)) this.removeMessage(stream, entry.sequence)
    }
  }

  /** The stream's messages after lazy expiry, for introspection and reads. */
  snapshot(stream: StreamState): ReadonlyArray<StoredEntry> {
    this.expire(stream, this.now())
    return Array.from(stream.messages.values())
  }

  decode(entry: StoredEntry): Result.Result<Envelope.Envelope, TransportError.TransportError> {
    if (entry.decoded === undefined) entry.decoded = Wire.decodeRaw(entry.raw)
    return entry.decoded
  }

  /** {@link decode}, accepting a message without Herald's headers when `foreign` asks to. */
  decodeAccepting(
    stream: string,
    entry: StoredEntry,
    foreign: Foreign.Options | undefined
  ): Result.Result<Envelope.Envelope, TransportError.TransportError> {
    const decoded = this.decode(entry)
    if (foreign === undefined || Result.isSuccess(decoded)) return decoded
    return Foreign.decodeRaw(entry.raw, foreign, () => ({
      subject: entry.subject,
      kind: "event",
      fallbackId: () => `${stream}:${entry.sequence}`,
      now: entry.timestamp
    }))
  }

  info(stream: StreamState): EventLog.StreamInfo {
    this.expire(stream, this.now())
    return {
      name: stream.name,
      subjects: stream.config.subjects,
      messages: stream.messages.size,
      bytes: stream.bytes,
      firstSequence: firstKey(stream.messages) ?? 0,
      lastSequence: stream.lastSeq,
      consumers: stream.consumers.size
    }
  }

  /** The message stored at a sequence (after lazy expiry), if any. */
  getEntry(name: string, sequence: number): Result.Result<Option.Option<StoredEntry>, TransportError.TransportError> {
    const validName = Topology.validateName("stream", name)
    if (Result.isFailure(validName)) return Result.fail(validName.failure)
    const validSequence = EventLog.validateSequence(name, sequence)
    if (Result.isFailure(validSequence)) return Result.fail(validSequence.failure)
    const found = this.getStream(name)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    this.expire(found.success, this.now())
    return Result.succeed(Option.fromUndefinedOr(found.success.messages.get(sequence)))
  }

  /**
   * Removes the messages `options` select, as JetStream's purge: a purge of
   * the whole stream (no subject, or `>`) also moves every consumer's floors
   * up to the first message left (the last sequence + 1 when none is left).
   */
  purge(name: string, options: Topology.PurgeOptions | undefined): Result.Result<Topology.PurgeResult, TransportError.TransportError> {
    const valid = Topology.validatePurge(name, options)
    if (Result.isFailure(valid)) return Result.fail(valid.failure)
    const found = this.getStream(name)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const stream = found.success
    this.expire(stream, this.now())
    const upTo = options?.upToSequence
    // Nothing is below sequence 1 (JetStream would read `seq: 1` as "everything").
    if (upTo === 1) return Result.succeed({ purged: 0 })
    const subject = options?.subject === ">" ? undefined : options?.subject
    const filter = subject === undefined ? undefined : SubjectPattern.makeUnsafe(subject)
    let victims: Array<number> = []
    for (const entry of stream.messages.values()) {
      if (upTo !== undefined && entry.sequence >= upTo) break
      if (filter === undefined || SubjectPattern.matches(filter, entry.subject)) victims.push(entry.sequence)
    }
    const keep = options?.keep
    if (keep !== undefined) victims = victims.slice(0, Math.max(0, victims.length - keep))
    for (const sequence of victims) this.removeMessage(stream, sequence)
    if (filter === undefined) {
      const first = firstKey(stream.messages) ?? stream.lastSeq + 1
      for (const consumer of stream.consumers.values()) {
        if (consumer.cursor < first) consumer.cursor = first
        if (consumer.deliveredStream < first - 1) consumer.deliveredStream = first - 1
        consumer.signal.notify()
      }
    }
    return Result.succeed({ purged: victims.length })
  }

  // ---------------------------------------------------------------------------
  // topology
  // ---------------------------------------------------------------------------

  ensureStream(config: Topology.StreamConfig): Result.Result<Topology.Change, TransportError.TransportError> {
    if (this.closed) return Result.fail(error(new TransportError.Closed({ detail: "memory transport is closed" })))
    const valid = Topology.validateStream(config)
    if (Result.isFailure(valid)) return Result.fail(valid.failure)
    const norm = TopologyConfig.normalizeStream(config)
    const checked = TopologyConfig.checkStream(config.name, norm)
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
    const others = Array.from(this.streams.values()).filter((s) => s.name !== config.name)
    const overlaps = OverlapGuard.find([
      { name: config.name, subjects: config.subjects },
      ...others.map((s) => ({ name: s.name, subjects: s.config.subjects }))
    ]).filter((o) => o.a.stream === config.name || o.b.stream === config.name)
    if (overlaps.length > 0) {
      return Result.fail(conflict(
        overlaps.map((o) =>
          `stream ${o.a.stream} ${JSON.stringify(o.a.pattern)} overlaps stream ${o.b.stream} ${JSON.stringify(o.b.pattern)}`
        ).join("; ")
      ))
    }
    const patterns = config.subjects.map((s) => SubjectPattern.makeUnsafe(s))
    const existing = this.streams.get(config.name)
    if (existing === undefined) {
      this.streams.set(config.name, {
        name: config.name,
        config,
        norm,
        patterns,
        messages: new Map(),
        bytes: 0,
        lastSeq: 0,
        bySubject: new Map(),
        dedupe: new Map(),
        consumers: new Map(),
        deleted: false
      })
      return Result.succeed({ kind: "stream", name: config.name, action: "created" })
    }
    if (TopologyConfig.diff(existing.norm, norm).length === 0) {
      existing.config = config
      return Result.succeed({ kind: "stream", name: config.name, action: "unchanged" })
    }
    const change = TopologyConfig.checkStreamChange(config.name, existing.norm, norm)
    if (Result.isFailure(change)) return Result.fail(change.failure)
    existing.config = config
    existing.norm = norm
    existing.patterns = patterns
    this.expire(existing, this.now())
    this.enforceLimits(existing)
    return Result.succeed({ kind: "stream", name: config.name, action: "updated" })
  }

  ensureConsumer(config: Topology.ConsumerConfig): Result.Result<Topology.Change, TransportError.TransportError> {
    const valid = Topology.validateConsumer(config)
    if (Result.isFailure(valid)) return Result.fail(valid.failure)
    const found = this.getStream(config.stream)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const stream = found.success
    const norm = TopologyConfig.normalizeConsumer(config)
    const name = `consumer ${config.stream}/${config.name}`
    const filter = config.filterSubject === undefined ? undefined : SubjectPattern.makeUnsafe(config.filterSubject)
    if (filter !== undefined && !stream.patterns.some((p) => SubjectPattern.overlaps(p, filter))) {
      return Result.fail(invalidConfig(
        `${name}: filterSubject ${JSON.stringify(config.filterSubject)} matches none of the stream's subjects`
      ))
    }
    const existing = stream.consumers.get(config.name)
    if (existing !== undefined) {
      if (TopologyConfig.diff(existing.norm, norm).length === 0) {
        existing.config = config
        return Result.succeed({ kind: "consumer", name: config.name, action: "unchanged" })
      }
      const change = TopologyConfig.checkConsumerChange(config.stream, config.name, existing.norm, norm)
      if (Result.isFailure(change)) return Result.fail(change.failure)
      existing.config = config
      existing.norm = norm
      existing.signal.notify()
      return Result.succeed({ kind: "consumer", name: config.name, action: "updated" })
    }
    if (stream.norm.retention === "workqueue") {
      if (config.deliverPolicy !== undefined && config.deliverPolicy._tag !== "All") {
        return Result.fail(invalidConfig(`${name}: a consumer of a workqueue stream must deliver all`))
      }
      for (const other of stream.consumers.values()) {
        if (filter === undefined || other.filter === undefined || SubjectPattern.overlaps(filter, other.filter)) {
          return Result.fail(conflict(
            `${name}: workqueue stream ${stream.name} already has consumer ${other.name} ${
              other.filter === undefined ? "without a filter" : `filtered on ${JSON.stringify(other.filter)}`
            }; consumers of a workqueue stream need filters that do not overlap`
          ))
        }
      }
    }
    const consumer: ConsumerState = {
      name: config.name,
      stream,
      config,
      norm,
      filter,
      cursor: 1,
      lastPerSubject: undefined,
      numPending: 0,
      pending: new Map(),
      dueCount: 0,
      nextDeadline: Number.POSITIVE_INFINITY,
      deliveredStream: 0,
      consumerSeq: 0,
      signal: new Signal(),
      deleted: false,
      deadLetterOverride: undefined
    }
    this.expire(stream, this.now())
    this.position(consumer, config.deliverPolicy ?? Topology.DeliverPolicy.all)
    stream.consumers.set(config.name, consumer)
    return Result.succeed({ kind: "consumer", name: config.name, action: "created" })
  }

  /** Sets a new consumer's starting point and pending count. */
  private position(consumer: ConsumerState, policy: Topology.DeliverPolicy): void {
    const stream = consumer.stream
    const matching = (entry: StoredEntry) =>
      consumer.filter === undefined || SubjectPattern.matches(consumer.filter, entry.subject)
    const end = stream.lastSeq + 1
    let cursor = end
    switch (policy._tag) {
      case "All": {
        cursor = firstKey(stream.messages) ?? end
        break
      }
      case "New": {
        cursor = end
        break
      }
      case "Last": {
        for (const entry of stream.messages.values()) if (matching(entry)) cursor = entry.sequence
        break
      }
      case "LastPerSubject": {
        const seqs = new Set<number>()
        for (const [subject, list] of stream.bySubject) {
          if (list.length > 0 && (consumer.filter === undefined || SubjectPattern.matches(consumer.filter, subject))) {
            seqs.add(list[list.length - 1]!)
          }
        }
        for (const s of seqs) if (s < cursor) cursor = s
        consumer.lastPerSubject = { floor: end, seqs }
        break
      }
      case "ByStartSequence": {
        cursor = policy.sequence
        break
      }
      case "ByStartTime": {
        for (const entry of stream.messages.values()) {
          if (entry.timestamp >= policy.time) {
            cursor = entry.sequence
            break
          }
        }
        break
      }
    }
    consumer.cursor = cursor
    consumer.deliveredStream = Math.max(0, cursor - 1)
    let pending = 0
    for (const entry of stream.messages.values()) {
      if (entry.sequence >= cursor && this.eligible(consumer, entry)) pending++
    }
    consumer.numPending = pending
  }

  deleteStream(name: string): Result.Result<void, TransportError.TransportError> {
    const found = this.getStream(name)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const stream = found.success
    stream.deleted = true
    this.streams.delete(name)
    for (const consumer of stream.consumers.values()) {
      consumer.deleted = true
      consumer.signal.notify()
    }
    return Result.void
  }

  deleteConsumer(streamName: string, name: string): Result.Result<void, TransportError.TransportError> {
    const found = this.getConsumer(streamName, name)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const consumer = found.success
    consumer.deleted = true
    consumer.stream.consumers.delete(name)
    consumer.signal.notify()
    this.sweepInterest(consumer.stream)
    return Result.void
  }

  // ---------------------------------------------------------------------------
  // deliveries
  // ---------------------------------------------------------------------------

  private waitMs(consumer: ConsumerState, deliveries: number): number {
    const backoff = consumer.norm.backoffMillis
    return backoff.length > 0 ? backoff[Math.min(deliveries, backoff.length) - 1]! : consumer.norm.ackWaitMillis
  }

  private setDeadline(consumer: ConsumerState, entry: PendingEntry, deadline: number): void {
    entry.deadline = deadline
    if (deadline < consumer.nextDeadline) consumer.nextDeadline = deadline
    if (deadline < this.armedAt) {
      this.armedAt = deadline
      this.tickerSignal.notify()
    }
  }

  /**
   * Makes the consumer's expired deliveries due for redelivery, and
   * dead-letters and terms those that exhausted `maxDeliver`.
   */
  processTimers(consumer: ConsumerState, now: number): void {
    if (consumer.deleted || consumer.nextDeadline > now) return
    let next = Number.POSITIVE_INFINITY
    let exhausted: Array<PendingEntry> | undefined = undefined
    let becameDue = false
    const maxDeliver = consumer.norm.maxDeliver
    for (const entry of consumer.pending.values()) {
      if (entry.due) continue
      if (entry.deadline <= now) {
        if (maxDeliver > 0 && entry.deliveries >= maxDeliver) {
          if (exhausted === undefined) exhausted = []
          exhausted.push(entry)
        } else {
          entry.due = true
          consumer.dueCount++
          becameDue = true
        }
      } else if (entry.deadline < next) {
        next = entry.deadline
      }
    }
    consumer.nextDeadline = next
    if (exhausted !== undefined) {
      for (const entry of exhausted) {
        if (consumer.pending.get(entry.seq) !== entry) continue
        const stored = consumer.stream.messages.get(entry.seq)
        if (stored !== undefined) {
          const letter = this.deadLetter(
            consumer,
            stored,
            entry.deliveries,
            ConsumerPolicy.maxDeliveriesReason(maxDeliver),
            now
          )
          if (Result.isFailure(letter)) {
            this.log(
              Effect.logError(
                `memory transport: cannot dead-letter ${consumer.stream.name} sequence ${entry.seq} of consumer ${consumer.name} after ${maxDeliver} deliveries: ${letter.failure.message}`
              )
            )
          }
        }
        this.finish(consumer, entry)
      }
    }
    if (becameDue) consumer.signal.notify()
  }

  /** Processes the timers of every consumer: the ticker's work. */
  processAllTimers(now: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const stream of Array.from(this.streams.values())) {
      for (const consumer of Array.from(stream.consumers.values())) {
        this.processTimers(consumer, now)
        if (consumer.nextDeadline < next) next = consumer.nextDeadline
      }
    }
    return next
  }

  /** The ticker: sleeps until the next deadline, then processes timers. Runs forever. */
  readonly ticker: Effect.Effect<never> = Effect.suspend(() => {
    const now = this.now()
    const wake = this.tickerSignal.current()
    const next = this.processAllTimers(now)
    this.armedAt = next
    const wait = next === Number.POSITIVE_INFINITY
      ? Deferred.await(wake)
      : Effect.raceFirst(Deferred.await(wake), this.sleep(next - now))
    return Effect.andThen(this.flushLogs, wait)
  }).pipe(Effect.forever)

  /** Stores a dead letter for a stored message, and publishes it to core subscribers. */
  deadLetter(
    consumer: ConsumerState,
    entry: StoredEntry,
    deliveryCount: number,
    reason: string,
    now: number,
    subject: string = consumer.deadLetterOverride ?? Topology.deadLetterSubject(consumer.config)
  ): Result.Result<EventLog.AppendResult, TransportError.TransportError> {
    const letter = DeadLetter.make(entry.raw, {
      reason,
      stream: consumer.stream.name,
      consumer: consumer.name,
      sequence: entry.sequence,
      subject: entry.subject,
      deliveryCount,
      failedAt: now
    }, { maxPayload: this.options.maxPayload })
    return this.append(subject, letter, undefined)
  }

  /** A delivery's end: acknowledged, termed or given up. Applies retention. */
  private finish(consumer: ConsumerState, entry: PendingEntry): void {
    if (consumer.pending.get(entry.seq) !== entry) return
    consumer.pending.delete(entry.seq)
    if (entry.due) consumer.dueCount--
    consumer.signal.notify()
    const stream = consumer.stream
    if (consumer.deleted || stream.deleted) return
    const retention = stream.norm.retention
    if (retention === "workqueue") {
      this.removeMessage(stream, entry.seq)
    } else if (retention === "interest") {
      const stored = stream.messages.get(entry.seq)
      if (stored !== undefined && !this.hasInterest(stream, stored)) this.removeMessage(stream, entry.seq)
    }
  }

  private deliver(
    consumer: ConsumerState,
    entry: PendingEntry,
    stored: StoredEntry,
    now: number,
    foreign: Foreign.Options | undefined
  ): Taken {
    entry.deliveries++
    if (entry.due) {
      entry.due = false
      consumer.dueCount--
    }
    entry.naked = false
    consumer.consumerSeq++
    if (stored.sequence > consumer.deliveredStream) consumer.deliveredStream = stored.sequence
    this.setDeadline(consumer, entry, now + this.waitMs(consumer, entry.deliveries))
    const decoded = this.decodeAccepting(consumer.stream.name, stored, foreign)
    return {
      consumer,
      entry: stored,
      decoded,
      token: { seq: stored.sequence, deliveryCount: entry.deliveries, settled: false },
      consumerSequence: consumer.consumerSeq,
      pending: consumer.numPending
    }
  }

  /** The next stored message the consumer has not delivered yet, advancing the cursor. */
  private nextNew(consumer: ConsumerState): StoredEntry | undefined {
    const stream = consumer.stream
    const first = firstKey(stream.messages)
    if (first === undefined) {
      if (consumer.cursor <= stream.lastSeq) consumer.cursor = stream.lastSeq + 1
      return undefined
    }
    if (consumer.cursor < first) consumer.cursor = first
    while (consumer.cursor <= stream.lastSeq) {
      const stored = stream.messages.get(consumer.cursor)
      consumer.cursor++
      if (stored !== undefined && this.eligible(consumer, stored)) {
        consumer.numPending--
        return stored
      }
    }
    if (consumer.lastPerSubject !== undefined && consumer.cursor >= consumer.lastPerSubject.floor) {
      consumer.lastPerSubject = undefined
    }
    return undefined
  }

  /**
   * Takes up to `max` deliveries that are ready now: redeliveries first, in
   * sequence order, then new messages while `maxAckPending` allows.
   */
  take(
    consumer: ConsumerState,
    max: number,
    foreign?: Foreign.Options | undefined
  ): Result.Result<TakeResult, TransportError.TransportError> {
    const live = this.checkLive(consumer)
    if (Result.isFailure(live)) return Result.fail(live.failure)
    const now = this.now()
    const stream = consumer.stream
    this.expire(stream, now)
    this.processTimers(consumer, now)
    const taken: Array<Taken> = []
    if (consumer.dueCount > 0) {
      const due: Array<number> = []
      for (const entry of consumer.pending.values()) if (entry.due) due.push(entry.seq)
      due.sort((a, b) => a - b)
      for (const seq of due) {
        if (taken.length >= max) break
        const entry = consumer.pending.get(seq)
        if (entry === undefined || !entry.due) continue
        const stored = stream.messages.get(seq)
        if (stored === undefined) {
          consumer.pending.delete(seq)
          consumer.dueCount--
          continue
        }
        taken.push(this.deliver(consumer, entry, stored, now, foreign))
      }
    }
    while (taken.length < max && consumer.pending.size < consumer.norm.maxAckPending) {
      const stored = this.nextNew(consumer)
      if (stored === undefined) break
      const entry: PendingEntry = { seq: stored.sequence, deliveries: 0, deadline: 0, naked: false, due: false }
      consumer.pending.set(stored.sequence, entry)
      taken.push(this.deliver(consumer, entry, stored, now, foreign))
    }
    return Result.succeed({ taken })
  }

  /**
   * Settles a delivery. Returns `true` when this call was the delivery's
   * first settlement (later ones are ignored).
   */
  settle(consumer: ConsumerState, token: Token, settlement: Settlement): boolean {
    if (token.settled) return false
    token.settled = true
    const entry = consumer.pending.get(token.seq)
    if (entry === undefined || consumer.deleted) return true
    switch (settlement._tag) {
      case "Ack":
      case "Term": {
        // Any delivery of the message settles it, even an older one.
        this.finish(consumer, entry)
        break
      }
      case "Nak": {
        if (entry.deliveries !== token.deliveryCount || entry.due) break
        const now = this.now()
        entry.naked = true
        entry.deadline = now + settlement.delayMs
        this.setDeadline(consumer, entry, entry.deadline)
        this.processTimers(consumer, now)
        break
      }
    }
    return true
  }

  /** `inProgress`: resets the ack-wait deadline of the current delivery. */
  progress(consumer: ConsumerState, token: Token): void {
    if (token.settled || consumer.deleted) return
    const entry = consumer.pending.get(token.seq)
    if (entry === undefined || entry.deliveries !== token.deliveryCount || entry.due || entry.naked) return
    this.setDeadline(consumer, entry, this.now() + this.waitMs(consumer, entry.deliveries))
  }

  lag(consumer: ConsumerState): EventLog.ConsumerLag {
    const now = this.now()
    this.expire(consumer.stream, now)
    this.processTimers(consumer, now)
    let redelivered = 0
    let minPending = Number.POSITIVE_INFINITY
    for (const entry of consumer.pending.values()) {
      if (entry.deliveries > 1 || entry.due || entry.naked) redelivered++
      if (entry.seq < minPending) minPending = entry.seq
    }
    return {
      stream: consumer.stream.name,
      consumer: consumer.name,
      pending: consumer.numPending,
      ackPending: consumer.pending.size,
      redelivered,
      delivered: consumer.deliveredStream,
      ackFloor: minPending === Number.POSITIVE_INFINITY ? consumer.deliveredStream : minPending - 1
    }
  }
}
