/**
 * How the conformance test groups register their tests.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Features } from "../../Conformance.ts"
import type { Kit, Services } from "./kit.ts"

/** @internal */
export interface TestOptions {
  /** The test runs only when this feature is declared supported. */
  readonly feature?: keyof Features | undefined
  /** Vitest timeout in milliseconds (default: the project's). */
  readonly timeout?: number | undefined
}

/** @internal */
export type TestBody = (kit: Kit) => Effect.Effect<void, unknown, Services | Scope.Scope>

/** @internal */
export interface SuiteContext {
  readonly features: Features
  readonly test: (name: string, body: TestBody, options?: TestOptions) => void
}
