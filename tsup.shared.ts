import { defineConfig } from "tsup"

/**
 * The build of every published package: one entry, ESM + CJS + `.d.ts`.
 * Dependencies and peer dependencies stay external.
 */
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node22",
  tsconfig: "tsconfig.build.json"
})
