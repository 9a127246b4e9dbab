import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    // supabase-js needs a global WebSocket, which Node 20 only has behind a flag.
    pool: 'forks',
    execArgv: ['--experimental-websocket'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file gets its own database cloned from a migrated template, so files can run in parallel.
    fileParallelism: true,
    maxWorkers: 2,
  },
})
