/**
 * Branded string ids that identify Herald messages and the conversations they
 * belong to.
 *
 * Every Herald message carries three ids: its own `MessageId`, the
 * `CorrelationId` of the conversation it belongs to, and the `CausationId` of
 * the message that caused it. The ids travel in NATS headers and in
 * `Nats-Msg-Id`, so they are restricted to 1 to 128 printable ASCII characters
 * with no whitespace (`!` to `~`). This module holds the schemas that enforce
 * that rule, the plain predicate {@link isValidId}, and {@link idProblem}, which
 * explains why a string is rejected.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { quote, typeName } from "./internal/quote.ts"

/**
 * The maximum number of characters in an id.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxLength = 128

const ID_PATTERN = "^[!-~]{1,128}$"

const hex4 = (code: number): string => code.toString(16).toUpperCase().padStart(4, "0")

const isWhitespace = (code: number): boolean =>
  code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0x85 || code === 0xa0 || code === 0x1680 ||
  (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f ||
  code === 0x205f || code === 0x3000 || code === 0xfeff

/**
 * Explains why a string is not a valid id, or returns `undefined` when it is
 * valid. The explanation is short and names the first offending position
 * (0-based), for example `"whitespace at 1"`, `"empty"`,
 * `"too long (129 characters, at most 128)"`, `"non-ASCII character U+00E9 at 3"`
 * or `"control character U+0007 at 0"`. A value that is not a string is
 * `"not a string (a number)"`.
 *
 * @category validation
 * @since 0.1.0
 */
export const idProblem = (s: string): string | undefined => {
  if (typeof s !== "string") {
    return `not a string (${typeName(s)})`
  }
  if (s.length === 0) {
    return "empty"
  }
  if (s.length > maxLength) {
    return `too long (${s.length} characters, at most ${maxLength})`
  }
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i)
    if (code >= 0x21 && code <= 0x7e) {
      continue
    }
    if (isWhitespace(code)) {
      return `whitespace at ${i}`
    }
    if (code < 0x20 || code === 0x7f) {
      return `control character U+${hex4(code)} at ${i}`
    }
    return `non-ASCII character U+${hex4(s.codePointAt(i) ?? code)} at ${i}`
  }
  return undefined
}

/**
 * Returns `true` when `s` is a valid id: a string of 1 to 128 characters,
 * each printable ASCII without whitespace (`!` to `~`).
 *
 * @category validation
 * @since 0.1.0
 */
export const isValidId = (s: unknown): boolean => {
  if (typeof s !== "string" || s.length === 0 || s.length > maxLength) {
    return false
  }
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i)
    if (code < 0x21 || code > 0x7e) {
      return false
    }
  }
  return true
}

const idCheck = Schema.makeFilter<string>(
  (s) => idProblem(s) ?? true,
  {
    expected: "an id of 1 to 128 printable ASCII characters without whitespace",
    toJsonSchema: () => ({ pattern: ID_PATTERN }),
    arbitraryConstraint: {
      patterns: [{ source: ID_PATTERN, flags: "" }]
    }
  }
)

/**
 * Schema for an unbranded id string: 1 to 128 printable ASCII characters
 * without whitespace. The branded schemas below build on it.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Id = Schema.String.check(idCheck)

/**
 * The id of one message. Herald also uses it as the JetStream `Nats-Msg-Id`,
 * so publishing the same message twice is deduplicated by the server.
 *
 * @category schemas
 * @since 0.1.0
 */
export const MessageId = Id.pipe(Schema.brand("MessageId"))

/**
 * The id of one message.
 *
 * @category models
 * @since 0.1.0
 */
export type MessageId = typeof MessageId.Type

/**
 * The id shared by every message of one conversation: the message id of the
 * conversation's root message.
 *
 * @category schemas
 * @since 0.1.0
 */
export const CorrelationId = Id.pipe(Schema.brand("CorrelationId"))

/**
 * The id shared by every message of one conversation.
 *
 * @category models
 * @since 0.1.0
 */
export type CorrelationId = typeof CorrelationId.Type

/**
 * The message id of the message that caused this one. A root message is its
 * own cause.
 *
 * @category schemas
 * @since 0.1.0
 */
export const CausationId = Id.pipe(Schema.brand("CausationId"))

/**
 * The message id of the message that caused this one.
 *
 * @category models
 * @since 0.1.0
 */
export type CausationId = typeof CausationId.Type

/**
 * Re-brands a message id as a correlation id. Safe: all three ids share the
 * same validation.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toCorrelationId = (id: MessageId): CorrelationId => id as string as CorrelationId

/**
 * Re-brands a message id as a causation id. Safe: all three ids share the
 * same validation.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toCausationId = (id: MessageId): CausationId => id as string as CausationId

/**
 * Re-brands a causation id as the message id it names. Safe: all three ids
 * share the same validation.
 *
 * @category conversions
 * @since 0.1.0
 */
export const causationToMessageId = (id: CausationId): MessageId => id as string as MessageId

/**
 * Brands `s` as a `MessageId` after checking it.
 *
 * Throws an `Error` naming the problem when `s` is not a valid id; meant for
 * literals in tests and examples. Use `Schema.decodeUnknownResult(MessageId)`
 * or `MessageIdentity.make` for untrusted input.
 *
 * @category unsafe
 * @since 0.1.0
 */
export const messageIdUnsafe = (s: string): MessageId => {
  const problem = idProblem(s)
  if (problem !== undefined) {
    throw new Error(`${typeof s === "string" ? quote(s) : typeName(s)} is not a valid id (${problem})`)
  }
  return s as MessageId
}
