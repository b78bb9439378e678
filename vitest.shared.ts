import { defineConfig } from "vitest/config"

/** Shared vitest settings: tests resolve workspace packages to their sources. */
export const shared = defineConfig({
  resolve: {
    conditions: ["@herald/source"]
  },
  ssr: {
    resolve: {
      conditions: ["@herald/source"]
    }
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
