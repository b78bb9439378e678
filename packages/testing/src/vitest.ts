/**
 * `@herald/testing/vitest`: the transport conformance suite, a separate
 * entry point because it registers vitest tests, so only its users need
 * `vitest` and `@effect/vitest` (optional peer dependencies of the package).
 *
 * @since 0.1.0
 */

/**
 * The conformance suite every transport runs.
 *
 * @since 0.1.0
 */
export * as Conformance from "./Conformance.ts"
