import { defineProject, mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.ts"

// Each test starts a three-node nats-server cluster and crashes its nodes;
// the files run one at a time (two clusters under load at once on a 2-core
// machine would measure the machine, not Herald).
export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "herald-cluster",
      testTimeout: 240_000,
      hookTimeout: 120_000,
      fileParallelism: false
    }
  })
)
