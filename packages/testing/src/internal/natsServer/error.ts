/**
 * The error of the `NatsServer` test service and its reasons.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/testing/NatsServerError" as const
const ReasonTypeId = "~@herald/testing/NatsServerError/Reason" as const

/** How many log lines an error message quotes. */
const quotedLines = 25

const quoteLog = (all: ReadonlyArray<string>): string => {
  const log = all.filter((line) => line.trim().length > 0)
  if (log.length === 0) return " (the server wrote nothing)"
  const shown = log.slice(-quotedLines)
  const skipped = log.length - shown.length
  return `; last log lines${skipped > 0 ? ` (${skipped} earlier lines omitted)` : ""}:\n  ${shown.join("\n  ")}`
}

const describeCause = (cause: unknown): string => {
  if (Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message.length > 0) {
    return cause.message
  }
  return String(cause)
}

/**
 * No executable was found. For `nats-server` the message says how to
 * install one; for `openssl` (needed by `tls: "generate"`) likewise.
 *
 * @since 0.1.0
 * @category reasons
 */
export class BinaryNotFound extends Schema.TaggedError<BinaryNotFound>("@herald/testing/NatsServerError/BinaryNotFound")(
  "BinaryNotFound",
  {
    /** The program looked for: `nats-server` or `openssl`. */
    binary: Schema.String,
    /** The paths tried, in order. */
    searched: Schema.Array(Schema.String)
  }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    const searched = this.searched.length === 0 ? "nowhere" : this.searched.join(", ")
    if (this.binary === "openssl") {
      return `openssl not found (searched: ${searched}); tls: "generate" needs it to create a self-signed ` +
        `certificate. Install it (apt-get install openssl) or pass tls: { certFile, keyFile }.`
    }
    return `${this.binary} binary not found (searched: ${searched}). Install one with ` +
      `\`apt-get install nats-server\` (Debian/Ubuntu) or \`brew install nats-server\`, or download it from ` +
      `https://github.com/nats-io/nats-server/releases, then put it on PATH or set NATS_SERVER_BIN to its path ` +
      `(or pass the binary option).`
  }
}

/**
 * The server did not accept connections (with JetStream ready, when enabled)
 * within the start timeout.
 *
 * @since 0.1.0
 * @category reasons
 */
export class StartTimeout extends Schema.TaggedError<StartTimeout>("@herald/testing/NatsServerError/StartTimeout")(
  "StartTimeout",
  {
    millis: Schema.Number,
    /** The last lines the server wrote. */
    log: Schema.Array(Schema.String)
  }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `nats-server did not become ready within ${this.millis} ms${quoteLog(this.log)}`
  }
}

/**
 * The server process exited while starting (a bad configuration, a port in
 * use, a store that cannot be opened...).
 *
 * @since 0.1.0
 * @category reasons
 */
export class Exited extends Schema.TaggedError<Exited>("@herald/testing/NatsServerError/Exited")("Exited", {
  code: Schema.NullOr(Schema.Number),
  signal: Schema.NullOr(Schema.String),
  /** The last lines the server wrote. */
  log: Schema.Array(Schema.String)
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    const how = this.signal !== null ? `signal ${this.signal}` : `code ${this.code ?? "unknown"}`
    return `nats-server exited during start (${how})${quoteLog(this.log)}`
  }
}

/**
 * A program could not be run at all.
 *
 * @since 0.1.0
 * @category reasons
 */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>("@herald/testing/NatsServerError/SpawnFailed")(
  "SpawnFailed",
  {
    /** The command line that failed. */
    command: Schema.String,
    cause: Schema.Defect()
  }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `cannot run ${this.command}: ${describeCause(this.cause)}`
  }
}

/**
 * A file-system, network or process operation of the harness failed.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Io extends Schema.TaggedError<Io>("@herald/testing/NatsServerError/Io")("Io", {
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.cause === undefined ? this.detail : `${this.detail}: ${describeCause(this.cause)}`
  }
}

/**
 * A cluster had no leader for something within the bound: the JetStream meta
 * group (`"the JetStream meta group"`), a stream or a consumer.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NoLeader extends Schema.TaggedError<NoLeader>("@herald/testing/NatsServerError/NoLeader")("NoLeader", {
  /** What has no leader: `stream ORDERS`, `consumer ORDERS/billing`, `the JetStream meta group`. */
  of: Schema.String,
  millis: Schema.Number,
  /** What the running nodes last said. */
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `no leader of ${this.of} within ${this.millis} ms: ${this.detail}`
  }
}

/**
 * An option of the harness is out of range.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidOption extends Schema.TaggedError<InvalidOption>("@herald/testing/NatsServerError/InvalidOption")(
  "InvalidOption",
  { detail: Schema.String }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.detail
  }
}

/**
 * A cluster operation named a node the cluster does not have.
 *
 * @since 0.1.0
 * @category reasons
 */
export class UnknownNode extends Schema.TaggedError<UnknownNode>("@herald/testing/NatsServerError/UnknownNode")(
  "UnknownNode",
  {
    node: Schema.Number,
    size: Schema.Number
  }
) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return `no node ${this.node} in a cluster of ${this.size} (nodes are numbered 0 to ${this.size - 1})`
  }
}

/**
 * The reasons a `NatsServerError` carries.
 *
 * @since 0.1.0
 * @category reasons
 */
export type NatsServerErrorReason =
  | BinaryNotFound
  | StartTimeout
  | Exited
  | SpawnFailed
  | Io
  | NoLeader
  | UnknownNode
  | InvalidOption

/**
 * The schema of the reasons.
 *
 * @since 0.1.0
 * @category reasons
 */
export const NatsServerErrorReason: Schema.Union<[
  typeof BinaryNotFound,
  typeof StartTimeout,
  typeof Exited,
  typeof SpawnFailed,
  typeof Io,
  typeof NoLeader,
  typeof UnknownNode,
  typeof InvalidOption
]> = Schema.Union([BinaryNotFound, StartTimeout, Exited, SpawnFailed, Io, NoLeader, UnknownNode, InvalidOption])

/**
 * The error of the `NatsServer` service: its `message` is the reason's.
 *
 * @since 0.1.0
 * @category errors
 */
export class NatsServerError extends Schema.TaggedError<NatsServerError>("@herald/testing/NatsServerError")(
  "NatsServerError",
  { reason: NatsServerErrorReason }
) {
  readonly [TypeId] = TypeId
  override readonly cause = this.reason
  override get message(): string {
    return this.reason.message || this.reason._tag
  }
}

/**
 * Wraps a reason in a `NatsServerError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: NatsServerErrorReason): NatsServerError => new NatsServerError({ reason })

/**
 * An `Io` failure with a detail and a cause.
 *
 * @since 0.1.0
 * @category constructors
 */
export const io = (detail: string, cause?: unknown): NatsServerError =>
  make(cause === undefined ? new Io({ detail }) : new Io({ detail, cause }))

/**
 * Returns `true` when a value is a `NatsServerError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isNatsServerError = (u: unknown): u is NatsServerError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is a `NatsServerErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isNatsServerErrorReason = (u: unknown): u is NatsServerErrorReason =>
  Predicate.hasProperty(u, ReasonTypeId)
