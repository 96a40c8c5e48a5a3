// Vite build of the dashboard into web/dist, served by tickd (src/api/static.c). Hashed asset names under
// assets/ (tickd serves them as immutable); every text asset is also written precompressed (.gz and .br)
// with node's zlib, so tickd sends the compressed file when the client accepts it without compressing on
// its I/O threads. `npm run dev` proxies the API to TICKD_URL (default http://127.0.0.1:8080).
import { defineConfig } from 'vite';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const target = process.env.TICKD_URL || 'http://127.0.0.1:8080';

function precompress() {
  return {
    name: 'tickd-precompress',
    apply: 'build',
    generateBundle(_opts, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (!/\.(js|mjs|css|html|svg|json|map|txt)$/.test(name)) continue;
        const src = Buffer.from(item.type === 'chunk' ? item.code : item.source);
        if (src.length < 512) continue;
        this.emitFile({ type: 'asset', fileName: name + '.gz', source: gzipSync(src, { level: 9 }) });
        this.emitFile({
          type: 'asset', fileName: name + '.br',
          source: brotliCompressSync(src, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: src.length } }),
        });
      }
    },
  };
}

export default defineConfig({
  base: '/',
  build: { outDir: 'dist', assetsDir: 'assets', emptyOutDir: true, target: 'es2020', sourcemap: false, chunkSizeWarningLimit: 600 },
  plugins: [precompress()],
  server: {
    proxy: {
      '/v1/prices': { target, ws: true, changeOrigin: true },
      '/v1': { target, changeOrigin: true },
      '/healthz': target,
      '/metrics': target,
    },
  },
});
