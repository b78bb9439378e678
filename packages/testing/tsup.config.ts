import { defineConfig } from "tsup"
import shared from "../../tsup.shared.ts"

// Three entries: the package (effect and Herald packages only),
// `@herald/testing/vitest` (the conformance suite: vitest, @effect/vitest)
// and `@herald/testing/pg` (TestDatabase: @effect/sql-pg). The optional peer
// dependencies are imported by their own entries only.
export default defineConfig({ ...shared, entry: ["src/index.ts", "src/vitest.ts", "src/pg.ts"] })
