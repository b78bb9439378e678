/**
 * `@herald/subject`: the NATS subject algebra of Herald. Validation of
 * subjects and patterns, matching, overlap and containment, a dispatch trie,
 * typed templates, the naming convention and the stream overlap guard.
 *
 * @since 0.1.0
 */

/**
 * Concrete, validated NATS subjects.
 *
 * @since 0.1.0
 */
export * as Subject from "./Subject.ts"

/**
 * Subject patterns (`*`, `>`) with matching, overlap and containment.
 *
 * @since 0.1.0
 */
export * as SubjectPattern from "./SubjectPattern.ts"

/**
 * The error type of this package and its reasons.
 *
 * @since 0.1.0
 */
export * as SubjectError from "./SubjectError.ts"

/**
 * A token trie dispatching one subject to many patterns.
 *
 * @since 0.1.0
 */
export * as SubjectTrie from "./SubjectTrie.ts"

/**
 * Typed subject templates such as `orders.{orderId}.created`.
 *
 * @since 0.1.0
 */
export * as SubjectTemplate from "./SubjectTemplate.ts"

/**
 * The `{env}.{app}.{kind}.{aggregate}.{action}` naming convention.
 *
 * @since 0.1.0
 */
export * as Namespace from "./Namespace.ts"

/**
 * Overlap detection for JetStream stream subjects.
 *
 * @since 0.1.0
 */
export * as OverlapGuard from "./OverlapGuard.ts"
