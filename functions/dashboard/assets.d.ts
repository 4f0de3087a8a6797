/** The built dashboard, provided at bundle time by dashboard/build.js (an esbuild plugin). */
declare module 'fma:dashboard-assets' {
  export const assets: Readonly<Record<'index.html' | 'app.js' | 'styles.css' | 'favicon.svg', string>>;
}
