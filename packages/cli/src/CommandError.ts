/**
 * The error of `@herald/cli`. A `CommandError` carries a `reason`, one of
 * the tagged reasons below; its `message` is the one line the `herald`
 * binary prints on stderr before exiting with a non-zero code.
 *
 * | reason | when |
 * |---|---|
 * | `InvalidInput` | a malformed sequence, time or limit, or options that do not go together |
 * | `NotFound` | no dead letter at a sequence |
 * | `Transport` | the server refused or could not be reached (the `TransportError`'s message) |
 * | `Incomplete` | some of the dead letters asked for could not be sent again |
 * | `Database` | `DATABASE_URL` missing or unusable, the database unreachable or refusing, its tables missing |
 *
 * @since 0.1.0
 */
import { TransportError } from "@herald/transport"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const TypeId = "~@herald/cli/CommandError" as const
const ReasonTypeId = "~@herald/cli/CommandError/Reason" as const

/**
 * An argument or option the command cannot use.
 *
 * @since 0.1.0
 * @category reasons
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("@herald/cli/InvalidInput")("InvalidInput", {
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.detail
  }
}

/**
 * Nothing where the command looked.
 *
 * @since 0.1.0
 * @category reasons
 */
export class NotFound extends Schema.TaggedError<NotFound>("@herald/cli/NotFound")("NotFound", {
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.detail
  }
}

/**
 * The transport failed: its `TransportError` is the cause.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Transport extends Schema.TaggedError<Transport>("@herald/cli/Transport")("Transport", {
  cause: Schema.Defect()
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return TransportError.isTransportError(this.cause) ? this.cause.message : String(this.cause)
  }
}

/**
 * Part of the work was done and part was not (for instance dead letters
 * that cannot be sent again); what was done is in the command's output.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Incomplete extends Schema.TaggedError<Incomplete>("@herald/cli/Incomplete")("Incomplete", {
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.detail
  }
}

/**
 * The database named by `DATABASE_URL` could not be used: not given, not
 * reachable, refusing the connection, without Herald's tables, or failing
 * a query.
 *
 * @since 0.1.0
 * @category reasons
 */
export class Database extends Schema.TaggedError<Database>("@herald/cli/Database")("Database", {
  detail: Schema.String
}) {
  readonly [ReasonTypeId] = ReasonTypeId
  override get message(): string {
    return this.detail
  }
}

/**
 * The union of reasons.
 *
 * @since 0.1.0
 * @category models
 */
export type CommandErrorReason = InvalidInput | NotFound | Transport | Incomplete | Database

/**
 * Schema of the reason union.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommandErrorReason = Schema.Union([InvalidInput, NotFound, Transport, Incomplete, Database])

/**
 * The error of every command.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandError extends Schema.TaggedError<CommandError>("@herald/cli/CommandError")("CommandError", {
  reason: CommandErrorReason
}) {
  readonly [TypeId] = TypeId
  override readonly cause = this.reason
  override get message(): string {
    return this.reason.message
  }
}

/**
 * Wraps a reason in a `CommandError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (reason: CommandErrorReason): CommandError => new CommandError({ reason })

/**
 * An `InvalidInput`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalid = (detail: string): CommandError => make(new InvalidInput({ detail }))

/**
 * A `NotFound`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const notFound = (detail: string): CommandError => make(new NotFound({ detail }))

/**
 * A `Database` reason.
 *
 * @since 0.1.0
 * @category constructors
 */
export const database = (detail: string): CommandError => make(new Database({ detail }))

/**
 * A `Transport` reason for a `TransportError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const transport = (error: TransportError.TransportError): CommandError => make(new Transport({ cause: error }))

/**
 * Returns `true` when a value is a `CommandError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCommandError = (u: unknown): u is CommandError => Predicate.hasProperty(u, TypeId)

/**
 * Returns `true` when a value is a `CommandErrorReason`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCommandErrorReason = (u: unknown): u is CommandErrorReason => Predicate.hasProperty(u, ReasonTypeId)
