/**
 * The normal form of stream and consumer configurations, and their diff:
 * what every `Topology` implementation compares to tell `unchanged` from
 * `updated`, checks before it changes anything, and answers from
 * `listStreams` and `consumerConfig`.
 *
 * A normal form has every default filled in as JetStream fills it, durations
 * in whole milliseconds (`Millis`), limits with `0` for unlimited, subjects
 * sorted. Two declarations that a server would hold alike have equal normal
 * forms; {@link diff} names the fields that differ.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Millis from "./Millis.ts"
import type * as Topology from "./Topology.ts"
import * as TransportError from "./TransportError.ts"

/**
 * The default duplicate window: 2 minutes (JetStream's).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultDuplicateWindowMillis = 120_000

/**
 * The default ack wait: 30 seconds (JetStream's).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultAckWaitMillis = 30_000

/**
 * The default number of unacknowledged deliveries a consumer allows: 1,000
 * (JetStream's, for explicit acks).
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxAckPending = 1_000

/**
 * A stream configuration with its defaults filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface NormalStream {
  /** Sorted. */
  readonly subjects: ReadonlyArray<string>
  /** `""` for none. */
  readonly description: string
  readonly retention: "limits" | "interest" | "workqueue"
  readonly storage: "file" | "memory"
  /** `0`: unlimited, as for the other limits. */
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
 * A durable consumer configuration with its defaults filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface NormalConsumer {
  /** `""` for none. */
  readonly description: string
  /** `""` for none: every subject of the stream. */
  readonly filterSubject: string
  /** The deliver policy as one comparable string: `All`, `New`, `Last`, `LastPerSubject`, `ByStartSequence(n)`, `ByStartTime(<ISO-8601>)`. */
  readonly deliverPolicy: string
  /** With `backoff`, its first step (JetStream stores it so). */
  readonly ackWaitMillis: number
  /** `0`: unlimited. */
  readonly maxDeliver: number
  readonly backoffMillis: ReadonlyArray<number>
  /** `0`: unlimited (only a consumer made outside Herald has no limit). */
  readonly maxAckPending: number
  /** `""` for the default, `herald.dlq.<stream>.<consumer>`. */
  readonly deadLetterSubject: string
}

/** A limit as the normal form holds it: `0` for absent, zero or negative (unlimited). */
const limit = (n: number | undefined): number => n === undefined || !(n > 0) ? 0 : n

/**
 * The normal form of a stream. The duplicate window defaults to 2 minutes, or
 * to `maxAge` when that is shorter (as JetStream clamps it).
 *
 * @since 0.1.0
 * @category normal form
 */
export const normalizeStream = (config: Topology.StreamConfig): NormalStream => {
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
    replicas: config.replicas !== undefined && config.replicas > 0 ? config.replicas : 1
  }
}

/**
 * A stream as `Topology.listStreams` answers it: every field set, except the
 * unlimited limits and an empty description. `subjects` keeps the order the
 * stream holds them in (default: sorted).
 *
 * @since 0.1.0
 * @category normal form
 */
export const toStreamConfig = (
  name: string,
  norm: NormalStream,
  subjects: ReadonlyArray<string> = norm.subjects
): Topology.StreamConfig => {
  const out: { -readonly [K in keyof Topology.StreamConfig]: Topology.StreamConfig[K] } = {
    name,
    subjects: [...subjects],
    retention: norm.retention,
    storage: norm.storage,
    discard: norm.discard,
    duplicateWindow: Duration.millis(norm.duplicateWindowMillis),
    replicas: norm.replicas
  }
  if (norm.description !== "") out.description = norm.description
  if (norm.maxMessages > 0) out.maxMessages = norm.maxMessages
  if (norm.maxBytes > 0) out.maxBytes = norm.maxBytes
  if (norm.maxAgeMillis > 0) out.maxAge = Duration.millis(norm.maxAgeMillis)
  if (norm.maxMessageSize > 0) out.maxMessageSize = norm.maxMessageSize
  if (norm.maxMessagesPerSubject > 0) out.maxMessagesPerSubject = norm.maxMessagesPerSubject
  return out
}

/**
 * A deliver policy as the normal form holds it.
 *
 * @since 0.1.0
 * @category normal form
 */
export const deliverPolicyKey = (policy: Topology.DeliverPolicy | undefined): string => {
  if (policy === undefined) return "All"
  switch (policy._tag) {
    case "ByStartSequence":
      return `ByStartSequence(${policy.sequence})`
    case "ByStartTime":
      return `ByStartTime(${Number.isFinite(policy.time) ? new Date(policy.time).toISOString() : String(policy.time)})`
    default:
      return policy._tag
  }
}

const deliverPolicyOf = (key: string): Topology.DeliverPolicy => {
  const at = /^(ByStartSequence|ByStartTime)\((.*)\)$/.exec(key)
  if (at !== null) {
    return at[1] === "ByStartSequence"
      ? { _tag: "ByStartSequence", sequence: Number(at[2]) }
      : { _tag: "ByStartTime", time: Date.parse(at[2]!) }
  }
  switch (key) {
    case "New":
    case "Last":
    case "LastPerSubject":
      return { _tag: key }
    default:
      return { _tag: "All" }
  }
}

/**
 * The normal form of a durable consumer. With `backoff`, the ack wait is its
 * first step, as JetStream stores it.
 *
 * @since 0.1.0
 * @category normal form
 */
export const normalizeConsumer = (config: Topology.ConsumerConfig): NormalConsumer => {
  const backoffMillis = (config.backoff ?? []).map((b) => Millis.orElse(b, defaultAckWaitMillis))
  return {
    description: config.description ?? "",
    filterSubject: config.filterSubject ?? "",
    deliverPolicy: deliverPolicyKey(config.deliverPolicy),
    ackWaitMillis: backoffMillis.length > 0 ? backoffMillis[0]! : Millis.orElse(config.ackWait, defaultAckWaitMillis),
    maxDeliver: limit(config.maxDeliver),
    backoffMillis,
    maxAckPending: limit(config.maxAckPending) || defaultMaxAckPending,
    deadLetterSubject: config.deadLetterSubject ?? ""
  }
}

/**
 * A consumer as `Topology.consumerConfig` answers it.
 *
 * @since 0.1.0
 * @category normal form
 */
export const toConsumerConfig = (stream: string, name: string, norm: NormalConsumer): Topology.ConsumerConfig => {
  const out: { -readonly [K in keyof Topology.ConsumerConfig]: Topology.ConsumerConfig[K] } = {
    stream,
    name,
    deliverPolicy: deliverPolicyOf(norm.deliverPolicy),
    ackWait: Duration.millis(norm.ackWaitMillis)
  }
  if (norm.maxAckPending > 0) out.maxAckPending = norm.maxAckPending
  if (norm.description !== "") out.description = norm.description
  if (norm.filterSubject !== "") out.filterSubject = norm.filterSubject
  if (norm.maxDeliver > 0) out.maxDeliver = norm.maxDeliver
  if (norm.backoffMillis.length > 0) out.backoff = norm.backoffMillis.map((ms) => Duration.millis(ms))
  if (norm.deadLetterSubject !== "") out.deadLetterSubject = norm.deadLetterSubject
  return out
}

const sameValue = (a: unknown, b: unknown): boolean =>
  Array.isArray(a) && Array.isArray(b)
    ? a.length === b.length && a.every((x, i) => x === b[i])
    : a === b

/**
 * The fields whose values differ between two normal forms; empty when the
 * configuration is unchanged.
 *
 * @since 0.1.0
 * @category diff
 */
export const diff = <A extends NormalStream | NormalConsumer>(existing: A, declared: A): ReadonlyArray<keyof A & string> => {
  const out: Array<keyof A & string> = []
  for (const key of Object.keys(declared) as Array<keyof A & string>) {
    if (!sameValue(existing[key], declared[key])) out.push(key)
  }
  return out
}

const invalid = (detail: string) => TransportError.make(new TransportError.InvalidConfig({ detail }))
const conflict = (detail: string) => TransportError.make(new TransportError.TopologyConflict({ detail }))

/**
 * Checks what `Topology.validateStream` cannot see in one field: a duplicate
 * window longer than `maxAge` is refused (JetStream refuses it).
 *
 * @since 0.1.0
 * @category checks
 */
export const checkStream = (name: string, norm: NormalStream): Result.Result<void, TransportError.TransportError> =>
  norm.maxAgeMillis > 0 && norm.duplicateWindowMillis > norm.maxAgeMillis
    ? Result.fail(
      invalid(`stream ${name}: duplicateWindow (${norm.duplicateWindowMillis} ms) exceeds maxAge (${norm.maxAgeMillis} ms)`)
    )
    : Result.void

/**
 * Refuses a stream change no transport makes in place: storage and
 * retention.
 *
 * @since 0.1.0
 * @category checks
 */
export const checkStreamChange = (
  name: string,
  existing: NormalStream,
  declared: NormalStream
): Result.Result<void, TransportError.TransportError> => {
  const changed = diff(existing, declared)
  for (const field of ["storage", "retention"] as const) {
    if (changed.includes(field)) {
      return Result.fail(conflict(`stream ${name}: ${field} cannot be changed from ${existing[field]} to ${declared[field]}`))
    }
  }
  return Result.void
}

/**
 * Refuses a consumer change no transport makes in place: the deliver policy
 * (JetStream refuses it) and the filter (JetStream before 2.10 refuses it;
 * refused everywhere so that every transport behaves alike).
 *
 * @since 0.1.0
 * @category checks
 */
export const checkConsumerChange = (
  stream: string,
  name: string,
  existing: NormalConsumer,
  declared: NormalConsumer
): Result.Result<void, TransportError.TransportError> => {
  const changed = diff(existing, declared)
  for (const field of ["deliverPolicy", "filterSubject"] as const) {
    if (changed.includes(field)) {
      return Result.fail(
        conflict(
          `consumer ${stream}/${name}: ${field} cannot be changed from ${existing[field] || "(none)"} to ${declared[field] || "(none)"}`
        )
      )
    }
  }
  return Result.void
}
