import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The bundle is served by the FastAPI app (proda_ray/studio/) from static/. `npm run dev`
// serves the sources with /api proxied to a running `proda studio` (PRODA_STUDIO_URL).
export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: '../../proda_ray/studio/static',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: { '/api': process.env.PRODA_STUDIO_URL || 'http://127.0.0.1:8765' },
  },
});
