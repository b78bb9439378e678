/**
 * `@herald/testing/pg`: a fresh PostgreSQL database per test suite, a
 * separate entry point so that only its users need `@effect/sql-pg` (an
 * optional peer dependency of the package).
 *
 * @since 0.1.0
 */

/**
 * A PostgreSQL database created for a suite and dropped after it.
 *
 * @since 0.1.0
 */
export * as TestDatabase from "./TestDatabase.ts"
