import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

export default mergeConfig(
  shared,
  defineProject({
    // Every test starts the built binary, most of them several times: a
    // process start costs seconds on a loaded machine.
    test: { name: "@herald/cli", testTimeout: 180_000 }
  }))
