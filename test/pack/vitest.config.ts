import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

// The npm install and the builds take minutes on a cold cache.
export default mergeConfig(
  shared,
  defineProject({ test: { name: "herald-pack", testTimeout: 240_000, hookTimeout: 600_000 } })
)
