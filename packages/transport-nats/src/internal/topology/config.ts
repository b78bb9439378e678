/**
 * Herald's stream and consumer configurations as JetStream's, and back, with
 * the normal forms `ensure` compares to decide between unchanged and updated.
 *
 * @since 0.1.0
 * @internal
 */
import { SubjectPattern } from "@herald/subject"
import { Millis, Topology, TransportError } from "@herald/transport"
import type {
  ConsumerConfig as NatsConsumerConfig,
  DeliverPolicy as NatsDeliverPolicy,
  StreamConfig as NatsStreamConfig
} from "@nats-io/jetstream"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"

/** JetStream's default duplicate window: 2 minutes. */
export const defaultDuplicateWindowMillis = 120_000
/** JetStream's default ack wait: 30 seconds. */
export const defaultAckWaitMillis = 30_000
/** JetStream's default `max_ack_pending` for explicit acks: 1,000. */
export const defaultMaxAckPending = 1_000

const nanosPerMilli = 1_000_000

/** Milliseconds as JetStream nanoseconds (whole numbers). */
export const nanos = (ms: number): number => Math.round(ms * nanosPerMilli)

/** JetStream nanoseconds as whole milliseconds, the unit `ensure` compares in. */
export const millisOf = (ns: number | undefined): number => ns === undefined ? 0 : Math.round(ns / nanosPerMilli)

/** A JetStream limit: `-1` (unlimited) for an absent, zero or negative value. */
const limit = (n: number | undefined): number => n === undefined || n <= 0 ? -1 : n

const conflict = (detail: string) => TransportError.make(new TransportError.TopologyConflict({ detail }))
const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))

// -----------------------------------------------------------------------------
// streams
// -----------------------------------------------------------------------------

/**
 * The stream fields Herald manages, in comparable form. Everything else on
 * the server (`max_consumers`, `allow_direct`, `sealed`, …) is left as the
 * server has it.
 *
 * @internal
 */
export interface NormalStream {
  readonly subjects: ReadonlyArray<string>
  readonly description: string
  readonly retention: "limits" | "interest" | "workqueue"
  readonly storage: "file" | "memory"
  readonly maxMessages: number
  readonly maxBytes: number
  readonly maxAgeMillis: number
  readonly maxMessageSize: number
  readonly maxMessagesPerSubject: number
  readonly discard: "old" | "new"
  readonly duplicateWindowMillis: number
  readonly replicas: number
}

/**
 * The normal form of a declared stream, with JetStream's defaults filled in:
 * the duplicate window defaults to 2 minutes, or to `maxAge` when that is
 * shorter (the server clamps it so).
 *
 * @internal
 */
export const normalizeDeclared = (config: Topology.StreamConfig): NormalStream => {
  const maxAgeMillis = Millis.orElse(config.maxAge, 0)
  const duplicateWindowMillis = Millis.orElse(
    config.duplicateWindow,
    maxAgeMillis > 0 && maxAgeMillis < defaultDuplicateWindowMillis ? maxAgeMillis : defaultDuplicateWindowMillis
  )
  return {
    subjects: [...config.subjects].sort(),
    description: config.description ?? "",
    retention: config.retention ?? "limits",
    storage: config.storage ?? "file",
    maxMessages: limit(config.maxMessages),
    maxBytes: limit(config.maxBytes),
    maxAgeMillis,
    maxMessageSize: limit(config.maxMessageSize),
    maxMessagesPerSubject: limit(config.maxMessagesPerSubject),
    discard: config.discard ?? "old",
    duplicateWindowMillis,
    replicas: config.replicas ?? 1
  }
}

/**
 * The normal form of a stream as the server holds it.
 *
 * @internal
 */
export const normalizeServer = (config: NatsStreamConfig): NormalStream => ({
  subjects: [...(config.subjects ?? [])].sort(),
  description: config.description ?? "",
  retention: config.retention,
  storage: config.storage,
  maxMessages: limit(config.max_msgs),
  maxBytes: limit(config.max_bytes),
  maxAgeMillis: millisOf(config.max_age),
  maxMessageSize: limit(config.max_msg_size),
  maxMessagesPerSubject: limit(config.max_msgs_per_subject),
  discard: config.discard,
  duplicateWindowMillis: millisOf(config.duplicate_window),
  replicas: config.num_replicas > 0 ? config.num_replicas : 1
})

/**
 * Checks what `validateStream` leaves to the server: a declared duplicate
 * window may not exceed `maxAge`.
 *
 * @internal
 */
export const checkStream = (config: Topology.StreamConfig, norm: NormalStream): Result.Result<void, TransportError.TransportError> =>
  config.duplicateWindow !== undefined && norm.maxAgeMillis > 0 && norm.duplicateWindowMillis > norm.maxAgeMillis
    ? Result.fail(
      invalid(
        `stream ${config.name}: duplicateWindow (${norm.duplicateWindowMillis} ms) exceeds maxAge (${norm.maxAgeMillis} ms)`
      )
    )
    : Result.void

/**
 * The JetStream configuration of a declared stream (with its normal form):
 * every field Herald manages is set, so that an update also clears what the
 * declaration no longer has. Subjects keep their declared order.
 *
 * @internal
 */
export const toNatsStream = (
  config: Topology.StreamConfig,
  norm: NormalStream
): Partial<NatsStreamConfig> & { name: string } => ({
  name: config.name,
  subjects: [...config.subjects],
  description: norm.description,
  retention: norm.retention,
  storage: norm.storage,
  max_msgs: norm.maxMessages,
  max_bytes: norm.maxBytes,
  max_age: nanos(norm.maxAgeMillis),
  max_msg_size: norm.maxMessageSize,
  max_msgs_per_subject: norm.maxMessagesPerSubject,
  discard: norm.discard,
  duplicate_window: nanos(norm.duplicateWindowMillis),
  num_replicas: norm.replicas
})

const sameValue = (a: unknown, b: unknown): boolean =>
  Array.isArray(a) && Array.isArray(b)
    ? a.length === b.length && a.every((x, i) => x === b[i])
    : a === b

/**
 * The fields that differ between two normal forms.
 *
 * @internal
 */
export const changedFields = <A extends object>(a: A, b: A): Array<keyof A & string> => {
  const out: Array<keyof A & string> = []
  for (const key of Object.keys(a) as Array<keyof A & string>) {
    if (!sameValue(a[key], b[key])) out.push(key)
  }
  return out
}

/**
 * Refuses, before anything is sent, a stream change JetStream (2.9) refuses:
 * storage, and retention.
 *
 * @internal
 */
export const checkStreamChange = (
  name: string,
  existing: NormalStream,
  declared: NormalStream
): Result.Result<void, TransportError.TransportError> => {
  const changed = changedFields(existing, declared)
  for (const field of ["storage", "retention"] as const) {
    if (changed.includes(field)) {
      return Result.fail(conflict(`stream ${name}: ${field} cannot be changed from ${existing[field]} to ${declared[field]}`))
    }
  }
  return Result.void
}

/**
 * A stream as Herald describes it. Unlimited limits are left out.
 *
 * @internal
 */
export const fromNatsStream = (config: NatsStreamConfig): Topology.StreamConfig => {
  const norm = normalizeServer(config)
  const positive = (n: number) => (n > 0 ? n : undefined)
  const out: {
    -readonly [K in keyof Topology.StreamConfig]: Topology.StreamConfig[K]
  } = {
    name: config.name,
    subjects: config.subjects ?? [],
    retention: norm.retention,
    storage: norm.storage,
    discard: norm.discard,
    duplicateWindow: Duration.millis(norm.duplicateWindowMillis),
    replicas: norm.replicas
  }
  if (norm.description !== "") out.description = norm.description
  if (positive(norm.maxMessages) !== undefined) out.maxMessages = norm.maxMessages
  if (positive(norm.maxBytes) !== undefined) out.maxBytes = norm.maxBytes
  if (norm.maxAgeMillis > 0) out.maxAge = Duration.millis(norm.maxAgeMillis)
  if (positive(norm.maxMessageSize) !== undefined) out.maxMessageSize = norm.maxMessageSize
  if (positive(norm.maxMessagesPerSubject) !== undefined) out.maxMessagesPerSubject = norm.maxMessagesPerSubject
  return out
}

// -----------------------------------------------------------------------------
// consumer descriptions: Herald's own settings
// -----------------------------------------------------------------------------

// nats-server 2.9 has no consumer `metadata` (2.10 added it, and 2.9 drops it
// silently), so Herald keeps its own consumer settings in the description, as
// a suffix: `<description> [herald:dlq=<subject>]`.
const suffix = /(?:^| )\[herald:dlq=([^\]\s]+)\]$/

/**
 * A consumer description with Herald's settings appended.
 *
 * @internal
 */
export const encodeDescription = (description: string | undefined, deadLetterSubject: string | undefined): string => {
  const text = description ?? ""
  if (deadLetterSubject === undefined) return text
  return text === "" ? `[herald:dlq=${deadLetterSubject}]` : `${text} [herald:dlq=${deadLetterSubject}]`
}

/**
 * A consumer description split into the user's text and Herald's settings.
 *
 * @internal
 */
export const decodeDescription = (
  text: string | undefined
): { readonly description: string | undefined; readonly deadLetterSubject: string | undefined } => {
  const full = text ?? ""
  const m = suffix.exec(full)
  const description = m === null ? full : full.slice(0, m.index)
  return {
    description: description === "" ? undefined : description,
    deadLetterSubject: m === null ? undefined : m[1]
  }
}

// -----------------------------------------------------------------------------
// consumers
// -----------------------------------------------------------------------------

/**
 * The consumer fields Herald manages, in comparable form.
 *
 * @internal
 */
export interface NormalConsumer {
  readonly description: string
  readonly filterSubject: string
  readonly deliverPolicy: string
  readonly ackWaitMillis: number
  readonly maxDeliver: number
  readonly backoffMillis: ReadonlyArray<number>
  readonly maxAckPending: number
}

const deliverKey = (policy: NatsDeliverPolicy, startSequence: number | undefined, startTime: string | undefined) => {
  switch (policy) {
    case "by_start_sequence":
      return `ByStartSequence(${startSequence ?? 0})`
    case "by_start_time": {
      const t = startTime === undefined ? Number.NaN : Date.parse(startTime)
      return `ByStartTime(${Number.isFinite(t) ? new Date(t).toISOString() : String(startTime)})`
    }
    case "all":
      return "All"
    case "new":
      return "New"
    case "last":
      return "Last"
    case "last_per_subject":
      return "LastPerSubject"
  }
}

const natsDeliver = (policy: Topology.DeliverPolicy | undefined): Pick<
  NatsConsumerConfig,
  "deliver_policy" | "opt_start_seq" | "opt_start_time"
> => {
  switch (policy?._tag) {
    case undefined:
    case "All":
      return { deliver_policy: "all" }
    case "New":
      return { deliver_policy: "new" }
    case "Last":
      return { deliver_policy: "last" }
    case "LastPerSubject":
      return { deliver_policy: "last_per_subject" }
    case "ByStartSequence":
      return { deliver_policy: "by_start_sequence", opt_start_seq: policy.sequence }
    case "ByStartTime":
      return { deliver_policy: "by_start_time", opt_start_time: new Date(policy.time).toISOString() }
  }
}

/**
 * The JetStream configuration of a declared durable pull consumer: explicit
 * acks, instant replay, every field Herald manages set.
 *
 * JetStream replaces `ack_wait` by the first backoff step when `backoff` is
 * set; the normal form does the same, so that such a consumer compares
 * unchanged.
 *
 * @internal
 */
export const toNatsConsumer = (config: Topology.ConsumerConfig): Partial<NatsConsumerConfig> => {
  const backoff = (config.backoff ?? []).map((b) => Millis.orElse(b, 0))
  return {
    durable_name: config.name,
    description: encodeDescription(config.description, config.deadLetterSubject),
    ack_policy: "explicit",
    replay_policy: "instant",
    ...natsDeliver(config.deliverPolicy),
    ...(config.filterSubject === undefined ? {} : { filter_subject: config.filterSubject }),
    ack_wait: nanos(Millis.orElse(config.ackWait, defaultAckWaitMillis)),
    max_deliver: config.maxDeliver ?? -1,
    ...(backoff.length === 0 ? {} : { backoff: backoff.map(nanos) }),
    max_ack_pending: config.maxAckPending ?? defaultMaxAckPending
  }
}

/**
 * The normal form of a JetStream consumer configuration (declared or held by
 * the server).
 *
 * @internal
 */
export const normalizeConsumer = (config: Partial<NatsConsumerConfig>): NormalConsumer => {
  const backoffMillis = (config.backoff ?? []).map(millisOf)
  return {
    description: config.description ?? "",
    filterSubject: config.filter_subject ?? (config.filter_subjects?.length === 1 ? config.filter_subjects[0]! : ""),
    deliverPolicy: deliverKey(config.deliver_policy ?? "all", config.opt_start_seq, config.opt_start_time),
    ackWaitMillis: backoffMillis.length > 0 ? backoffMillis[0]! : millisOf(config.ack_wait ?? nanos(defaultAckWaitMillis)),
    maxDeliver: config.max_deliver === undefined || config.max_deliver <= 0 ? -1 : config.max_deliver,
    backoffMillis,
    maxAckPending: config.max_ack_pending === undefined || config.max_ack_pending === 0
      ? defaultMaxAckPending
      : config.max_ack_pending
  }
}

/**
 * Checks what JetStream refuses of a new or changed consumer and
 * `validateConsumer` does not: the filter must fall within the stream's
 * subjects; a workqueue stream's consumers deliver all.
 *
 * @internal
 */
export const checkConsumer = (
  config: Topology.ConsumerConfig,
  stream: NatsStreamConfig
): Result.Result<void, TransportError.TransportError> => {
  const name = `consumer ${config.stream}/${config.name}`
  if (config.filterSubject !== undefined) {
    const filter = SubjectPattern.makeUnsafe(config.filterSubject)
    const subjects = (stream.subjects ?? []).map((s) => SubjectPattern.makeUnsafe(s))
    if (!subjects.some((p) => SubjectPattern.overlaps(p, filter))) {
      return Result.fail(
        invalid(`${name}: filterSubject ${JSON.stringify(config.filterSubject)} matches none of the stream's subjects`)
      )
    }
  }
  if (stream.retention === "workqueue" && config.deliverPolicy !== undefined && config.deliverPolicy._tag !== "All") {
    return Result.fail(invalid(`${name}: a consumer of a workqueue stream must deliver all`))
  }
  return Result.void
}

/**
 * Refuses, before anything is sent, a consumer change Herald does not make
 * in place: the deliver policy (JetStream refuses it), the filter (refused by
 * the in-memory transport and by JetStream before 2.10; kept refused
 * everywhere so that both transports behave alike), and taking over a
 * consumer that is not a Herald pull consumer (ack policy other than
 * explicit, or a push consumer).
 *
 * @internal
 */
export const checkConsumerChange = (
  config: Topology.ConsumerConfig,
  existing: NatsConsumerConfig,
  existingNorm: NormalConsumer,
  declared: NormalConsumer
): Result.Result<void, TransportError.TransportError> => {
  const name = `consumer ${config.stream}/${config.name}`
  if (existing.ack_policy !== "explicit") {
    return Result.fail(conflict(`${name}: ack policy cannot be changed from ${existing.ack_policy} to explicit`))
  }
  if (existing.deliver_subject !== undefined && existing.deliver_subject !== "") {
    return Result.fail(conflict(`${name}: it is a push consumer (deliver subject ${existing.deliver_subject}); Herald's consumers are pull consumers`))
  }
  if ((existing.filter_subjects ?? []).length > 1) {
    return Result.fail(conflict(`${name}: it filters on several subjects (${existing.filter_subjects!.join(", ")}); Herald's consumers have one filter`))
  }
  const changed = changedFields(existingNorm, declared)
  for (const field of ["deliverPolicy", "filterSubject"] as const) {
    if (changed.includes(field)) {
      return Result.fail(
        conflict(`${name}: ${field} cannot be changed from ${existingNorm[field] || "(none)"} to ${declared[field] || "(none)"}`)
      )
    }
  }
  return Result.void
}

const fromDeliver = (config: NatsConsumerConfig): Topology.DeliverPolicy => {
  switch (config.deliver_policy) {
    case "new":
      return Topology.DeliverPolicy.new
    case "last":
      return Topology.DeliverPolicy.last
    case "last_per_subject":
      return Topology.DeliverPolicy.lastPerSubject
    case "by_start_sequence":
      return Topology.DeliverPolicy.byStartSequence(config.opt_start_seq ?? 0)
    case "by_start_time":
      return Topology.DeliverPolicy.byStartTime(config.opt_start_time === undefined ? 0 : Date.parse(config.opt_start_time))
    default:
      return Topology.DeliverPolicy.all
  }
}

/**
 * A consumer as Herald describes it, Herald's settings read back from the
 * description. Fails with `InvalidConfig` for a consumer Herald's
 * `ConsumerConfig` cannot describe (several filter subjects, a 2.10 feature).
 *
 * @internal
 */
export const fromNatsConsumer = (
  stream: string,
  config: NatsConsumerConfig
): Result.Result<Topology.ConsumerConfig, TransportError.TransportError> => {
  const name = config.durable_name ?? config.name ?? ""
  if ((config.filter_subjects ?? []).length > 1) {
    return Result.fail(
      invalid(`consumer ${stream}/${name} filters on several subjects (${config.filter_subjects!.join(", ")}), which Herald's ConsumerConfig cannot describe`)
    )
  }
  const norm = normalizeConsumer(config)
  const { deadLetterSubject, description } = decodeDescription(config.description)
  const out: {
    -readonly [K in keyof Topology.ConsumerConfig]: Topology.ConsumerConfig[K]
  } = {
    stream,
    name,
    deliverPolicy: fromDeliver(config),
    ackWait: Duration.millis(norm.ackWaitMillis),
    maxAckPending: norm.maxAckPending
  }
  if (description !== undefined) out.description = description
  if (norm.filterSubject !== "") out.filterSubject = norm.filterSubject
  if (norm.maxDeliver > 0) out.maxDeliver = norm.maxDeliver
  if (norm.backoffMillis.length > 0) out.backoff = norm.backoffMillis.map((ms) => Duration.millis(ms))
  if (deadLetterSubject !== undefined) out.deadLetterSubject = deadLetterSubject
  return Result.succeed(out)
}
