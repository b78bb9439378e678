/**
 * The identity of one message: its own id, its conversation and its cause.
 *
 * A conversation starts with a root message whose three ids are equal
 * ({@link root}). Every message sent in reaction to another one is derived
 * from it ({@link derive}): it keeps the parent's correlation id and takes the
 * parent's message id as its causation id. That is enough to group messages by
 * conversation and to rebuild who-caused-what (see `CausationTree`).
 *
 * On the wire the identity travels in three NATS headers ({@link HeaderNames}).
 * {@link toHeaders} writes them and {@link fromHeaders} / {@link decodeHeaders}
 * read them back, failing with an `IdentityError` instead of throwing.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as IdentityError from "./IdentityError.ts"
import * as IdGenerator from "./IdGenerator.ts"
import * as Ids from "./Ids.ts"

/**
 * The identity of one message. Instances compare structurally with
 * `Equal.equals`; the schema encodes to and decodes from
 * `{ messageId, correlationId, causationId }`.
 *
 * @category models
 * @since 0.1.0
 */
export class MessageIdentity extends Schema.Class<MessageIdentity>("@herald/identity/MessageIdentity")({
  messageId: Ids.MessageId,
  correlationId: Ids.CorrelationId,
  causationId: Ids.CausationId
}) {}

const trusted = (
  messageId: Ids.MessageId,
  correlationId: Ids.CorrelationId,
  causationId: Ids.CausationId
): MessageIdentity => new MessageIdentity({ messageId, correlationId, causationId }, { disableChecks: true })

/**
 * The identity of a message that starts a conversation: all three ids are
 * `id`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const root = (id: Ids.MessageId): MessageIdentity =>
  trusted(id, Ids.toCorrelationId(id), Ids.toCausationId(id))

/**
 * The identity of a message caused by `parent`: same correlation id as the
 * parent, causation id = the parent's message id, message id = `id`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const derive = (parent: MessageIdentity, id: Ids.MessageId): MessageIdentity =>
  trusted(id, parent.correlationId, Ids.toCausationId(parent.messageId))

/**
 * `true` when the identity starts a conversation (its message id equals its
 * causation id).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isRoot = (identity: MessageIdentity): boolean =>
  (identity.messageId as string) === (identity.causationId as string)

/**
 * `true` when `child` was caused directly by `parent` (same conversation and
 * `child.causationId === parent.messageId`).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isCausedBy = (child: MessageIdentity, parent: MessageIdentity): boolean =>
  (child.causationId as string) === (parent.messageId as string) &&
  child.correlationId === parent.correlationId

/**
 * A root identity with a fresh id from the `IdGenerator`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRoot: Effect.Effect<MessageIdentity, never, IdGenerator.IdGenerator> = Effect.map(
  IdGenerator.next,
  root
)

/**
 * An identity derived from `parent` with a fresh id from the `IdGenerator`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeDerived = (parent: MessageIdentity): Effect.Effect<MessageIdentity, never, IdGenerator.IdGenerator> =>
  Effect.map(IdGenerator.next, (id) => derive(parent, id))

/**
 * The NATS header names that carry an identity.
 *
 * @category headers
 * @since 0.1.0
 */
export const HeaderNames = {
  messageId: "Herald-Message-Id",
  correlationId: "Herald-Correlation-Id",
  causationId: "Herald-Causation-Id"
} as const

/**
 * The identity as NATS headers, keyed by {@link HeaderNames}.
 *
 * @category headers
 * @since 0.1.0
 */
export const toHeaders = (identity: MessageIdentity): Record<string, string> => ({
  [HeaderNames.messageId]: identity.messageId,
  [HeaderNames.correlationId]: identity.correlationId,
  [HeaderNames.causationId]: identity.causationId
})

const readHeader = (
  lookup: (name: string) => string | undefined,
  header: string
): Result.Result<string, IdentityError.IdentityError> => {
  const value: unknown = lookup(header)
  if (value === undefined || value === "") {
    return Result.fail(IdentityError.missingHeader(header))
  }
  if (typeof value !== "string") {
    return Result.fail(new IdentityError.IdentityError({ reason: IdentityError.notAStringReason(header, value) }))
  }
  const problem = Ids.idProblem(value)
  return problem === undefined
    ? Result.succeed(value)
    : Result.fail(IdentityError.malformedId(header, value, { problem }))
}

/**
 * Reads an identity from headers. `lookup` returns a header's value, or
 * `undefined` when the header is absent (for a `nats` `MsgHdrs` pass
 * `(name) => msg.headers?.get(name)`).
 *
 * Headers are checked in the order message id, correlation id, causation id
 * and the first problem is reported: an absent or empty header is a
 * `MissingHeader`, any other invalid value (one that is not a string
 * included) a `MalformedId`. Never throws on bad input: a `lookup` that is
 * not a function finds no header.
 *
 * @category headers
 * @since 0.1.0
 */
export const fromHeaders = (
  lookup: (name: string) => string | undefined
): Result.Result<MessageIdentity, IdentityError.IdentityError> => {
  if (typeof lookup !== "function") return Result.fail(IdentityError.missingHeader(HeaderNames.messageId))
  const messageId = readHeader(lookup, HeaderNames.messageId)
  if (Result.isFailure(messageId)) return Result.fail(messageId.failure)
  const correlationId = readHeader(lookup, HeaderNames.correlationId)
  if (Result.isFailure(correlationId)) return Result.fail(correlationId.failure)
  const causationId = readHeader(lookup, HeaderNames.causationId)
  if (Result.isFailure(causationId)) return Result.fail(causationId.failure)
  return Result.succeed(trusted(
    messageId.success as Ids.MessageId,
    correlationId.success as Ids.CorrelationId,
    causationId.success as Ids.CausationId
  ))
}

/**
 * {@link fromHeaders} as an `Effect` that fails with the `IdentityError`.
 *
 * @category headers
 * @since 0.1.0
 */
export const decodeHeaders = (
  lookup: (name: string) => string | undefined
): Effect.Effect<MessageIdentity, IdentityError.IdentityError> => Effect.suspend(() => Effect.fromResult(fromHeaders(lookup)))

/**
 * Builds an identity from three unchecked strings, e.g. read from a database.
 * Fields are checked in the order `messageId`, `correlationId`, `causationId`;
 * the first invalid one (empty strings and values that are not strings
 * included) is reported as a `MalformedId` naming the field. Never throws on
 * bad input: `fields` that is not an object has three missing fields.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (fields: {
  readonly messageId: string
  readonly correlationId: string
  readonly causationId: string
}): Result.Result<MessageIdentity, IdentityError.IdentityError> => {
  const names = ["messageId", "correlationId", "causationId"] as const
  const record: Partial<Record<string, unknown>> = typeof fields === "object" && fields !== null ? fields : {}
  for (const name of names) {
    const value = record[name]
    if (typeof value !== "string") {
      return Result.fail(
        new IdentityError.IdentityError({ reason: IdentityError.notAStringReason(name, value, { source: "field" }) })
      )
    }
    const problem = Ids.idProblem(value)
    if (problem !== undefined) {
      return Result.fail(IdentityError.malformedId(name, value, { source: "field", problem }))
    }
  }
  return Result.succeed(trusted(
    fields.messageId as Ids.MessageId,
    fields.correlationId as Ids.CorrelationId,
    fields.causationId as Ids.CausationId
  ))
}
