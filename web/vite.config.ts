import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = dirname(fileURLToPath(import.meta.url));

// Built assets ship inside the Python package (closedloop/web), served under /static/.
export default defineConfig({
  base: "/static/",
  plugins: [react()],
  build: {
    outDir: resolve(here, "../closedloop/web"),
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: {
        app: resolve(here, "index.html"),
        graphiql: resolve(here, "graphiql.html"),
      },
    },
  },
  server: { proxy: { "/graphql": { target: "http://127.0.0.1:8000", ws: true }, "/auth": "http://127.0.0.1:8000" } },
});
