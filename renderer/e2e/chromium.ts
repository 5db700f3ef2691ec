// Debian's Chromium, driven by playwright (no browser download).
export const CHROMIUM = process.env.LAPSE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
