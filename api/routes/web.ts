// The browser side, served beside the API from plain files under web/ that a browser loads as they
// are (no build step): the live dashboard at /dashboard, the embeddable availability widget at
// /widget/availability.js and an example product page that embeds it at /examples/product.
// chart.js is served from node_modules by the same router, so nothing comes from a CDN.
//
// The pages carry no key: a person enters one, the page keeps it in sessionStorage and sends it as
// `Authorization: Bearer` on fetch (the stream too: fetch-based SSE, since EventSource cannot send
// headers). Their Content-Security-Policy allows only the server's own scripts, styles and
// connections, with no inline script or style.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { RequestHandler, Response, Router } from 'express';
import { contentSecurityPolicy } from 'helmet';
import { requireContext } from '../context.js';

export const WEB_PATHS = {
  dashboard: '/dashboard',
  dashboardAssets: '/dashboard/assets',
  chartJs: '/dashboard/assets/vendor/chart.umd.js',
  widgetDir: '/widget',
  widget: '/widget/availability.js',
  example: '/examples/product',
  exampleAssets: '/examples/assets',
} as const;

/** web/ at the top of the repository: from api/routes/web.ts, or from the build's dist/api/routes/web.js. */
export const webDir =
  [new URL('../../web/', import.meta.url), new URL('../../../web/', import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(path.join(dir, 'dashboard.html'))) ??
  fileURLToPath(new URL('../../web/', import.meta.url));
/** node_modules/chart.js/dist: the package resolves to dist/chart.cjs. */
const chartDistDir = (): string => path.dirname(createRequire(import.meta.url).resolve('chart.js'));

/** Own scripts, styles and connections only; no inline code, no framing, no plugins. */
export const pageCsp = contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    scriptSrcAttr: ["'none'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/** HTML and the page's own modules: always revalidated (ETag / Last-Modified answer 304). */
const REVALIDATE = 'no-cache';
/** The widget is loaded by every product page view: cached briefly, so a fix still rolls out quickly. */
const WIDGET_CACHE = 'public, max-age=300';
/** chart.js changes only with an npm upgrade. */
const VENDOR_CACHE = 'public, max-age=86400';

const label =
  (route: string): RequestHandler =>
  (req, _res, next) => {
    requireContext(req).route = route;
    next();
  };

const staticFiles = (dir: string, cacheControl: string, extra: Record<string, string> = {}) =>
  express.static(dir, {
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    etag: true,
    lastModified: true,
    cacheControl: false,
    setHeaders: (res: Response) => {
      res.setHeader('Cache-Control', cacheControl);
      for (const [name, value] of Object.entries(extra)) res.setHeader(name, value);
    },
  });

const page =
  (file: string): RequestHandler =>
  (_req, res, next) => {
    res.setHeader('Cache-Control', REVALIDATE);
    res.sendFile(path.join(webDir, file), { cacheControl: false, dotfiles: 'deny' }, (error) => {
      if (error) next(error);
    });
  };

export function webRouter(): Router {
  const router = express.Router();
  const chartDir = chartDistDir();

  router.get(WEB_PATHS.dashboard, label(WEB_PATHS.dashboard), pageCsp, page('dashboard.html'));
  router.get(
    [WEB_PATHS.chartJs, `${WEB_PATHS.chartJs}.map`],
    label(`${WEB_PATHS.dashboardAssets}/*`),
    (req, res, next) => {
      res.setHeader('Cache-Control', VENDOR_CACHE);
      const file = req.path.endsWith('.map') ? 'chart.umd.js.map' : 'chart.umd.js';
      res.sendFile(path.join(chartDir, file), { cacheControl: false }, (error) => {
        if (error) next(error);
      });
    },
  );
  router.use(
    WEB_PATHS.dashboardAssets,
    label(`${WEB_PATHS.dashboardAssets}/*`),
    staticFiles(path.join(webDir, 'assets'), REVALIDATE),
  );

  // Product pages of any origin load the widget with a script tag: helmet's default
  // Cross-Origin-Resource-Policy (same-origin) would block it there. web/widget holds only it.
  router.use(
    WEB_PATHS.widgetDir,
    label(WEB_PATHS.widget),
    staticFiles(path.join(webDir, 'widget'), WIDGET_CACHE, {
      'Cross-Origin-Resource-Policy': 'cross-origin',
      'Access-Control-Allow-Origin': '*',
    }),
  );

  router.get(WEB_PATHS.example, label(WEB_PATHS.example), pageCsp, page('examples/product.html'));
  router.use(
    WEB_PATHS.exampleAssets,
    label(`${WEB_PATHS.exampleAssets}/*`),
    staticFiles(path.join(webDir, 'examples', 'assets'), REVALIDATE),
  );
  return router;
}
