/**
 * Message, correlation and causation ids for Herald: branded id schemas, the
 * `MessageIdentity` carried in NATS headers, the `IdGenerator` service
 * (UUIDv7) and `CausationTree` for rebuilding who-caused-what.
 *
 * @since 0.1.0
 */

/**
 * Branded id schemas (and types of the same names).
 *
 * @category ids
 * @since 0.1.0
 */
export { CausationId, CorrelationId, MessageId } from "./Ids.ts"

/**
 * Branded ids and their validation.
 *
 * @category modules
 * @since 0.1.0
 */
export * as Ids from "./Ids.ts"

/**
 * A message's own id, conversation and cause; header encoding.
 *
 * @category modules
 * @since 0.1.0
 */
export * as MessageIdentity from "./MessageIdentity.ts"

/**
 * The error raised when an identity cannot be read.
 *
 * @category modules
 * @since 0.1.0
 */
export * as IdentityError from "./IdentityError.ts"

/**
 * The service that mints message ids (UUIDv7, or a fixed sequence in tests).
 *
 * @category modules
 * @since 0.1.0
 */
export * as IdGenerator from "./IdGenerator.ts"

/**
 * Causation forests built from identities: queries, causal order, rendering.
 *
 * @category modules
 * @since 0.1.0
 */
export * as CausationTree from "./CausationTree.ts"
