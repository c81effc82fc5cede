/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'
import { defineConfig } from 'vite'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    // shiki's grammars are split per language and loaded on demand
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080', '/blobs': 'http://127.0.0.1:8080', '/auth': 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // two shared cores: user-event typing is slow under load, not wrong
    testTimeout: 20_000,
    // one jsdom per worker instead of one per file: the tests clean up after themselves
    isolate: false,
  },
})
