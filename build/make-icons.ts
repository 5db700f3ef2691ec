// Draws the app and tray icons as PNG files with nothing but Node (zlib for the image data),
// so they can be regenerated anywhere: `node --import tsx build/make-icons.ts`.
//
// The mark: a ring (a clock face) whose filled share says the state. Tray variants:
//   none       an empty ring                    active     a filled disc
//   expiring   a ring with its last quarter     approvals  a ring with a badge dot
// each for a light panel (dark ink), a dark panel (light ink) and macOS (black template
// images, `*Template.png`, tinted by the system), at 1x (16 px) and 2x (32 px).

import { deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Rgba = [number, number, number, number];
export type TrayState = 'none' | 'active' | 'expiring' | 'approvals';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An RGBA image as a PNG file (8 bits per channel, no filtering). */
export function encodePng(width: number, height: number, rgba: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Draws the mark at `size` px; coverage is supersampled 4×4 for smooth edges. */
export function drawMark(size: number, state: TrayState, ink: Rgba, accent: Rgba, background?: Rgba): Uint8Array {
  const px = new Uint8Array(size * size * 4);
  const c = size / 2;
  const outer = size * 0.44;
  const inner = size * 0.31;
  const badge = { x: size * 0.78, y: size * 0.22, r: size * 0.2 };
  const S = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let inkCover = 0;
      let accentCover = 0;
      let bgCover = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const fx = x + (sx + 0.5) / S;
          const fy = y + (sy + 0.5) / S;
          const d = Math.hypot(fx - c, fy - c);
          // Angle clockwise from 12 o'clock, 0..1.
          const turn = ((Math.atan2(fx - c, -(fy - c)) / (2 * Math.PI)) + 1) % 1;
          if (background && Math.hypot(fx - c, fy - c) <= size * 0.5) bgCover++;
          if (state === 'approvals' && Math.hypot(fx - badge.x, fy - badge.y) <= badge.r) { accentCover++; continue; }
          if (state === 'approvals' && Math.hypot(fx - badge.x, fy - badge.y) <= badge.r + size * 0.07) continue; // a gap around the badge
          const ring = d <= outer && d >= inner;
          const disc = d < inner;
          if (ring) inkCover++;
          else if (disc && state === 'active') inkCover++;
          else if (disc && state === 'expiring' && turn >= 0.75) accentCover++;
        }
      }
      const n = S * S;
      const o = (y * size + x) * 4;
      const layers: [Rgba, number][] = [];
      if (background) layers.push([background, bgCover / n]);
      layers.push([ink, inkCover / n], [accent, accentCover / n]);
      let r = 0, g = 0, b = 0, a = 0;
      for (const [col, cover] of layers) {
        const al = (col[3] / 255) * cover;
        r = col[0] * al + r * (1 - al);
        g = col[1] * al + g * (1 - al);
        b = col[2] * al + b * (1 - al);
        a = al + a * (1 - al);
      }
      // r, g, b are premultiplied by alpha: undo it for PNG's straight alpha.
      px[o] = a ? Math.round(r / a) : 0;
      px[o + 1] = a ? Math.round(g / a) : 0;
      px[o + 2] = a ? Math.round(b / a) : 0;
      px[o + 3] = Math.round(a * 255);
    }
  }
  return px;
}

const STATES: TrayState[] = ['none', 'active', 'expiring', 'approvals'];
const INK_LIGHT_PANEL: Rgba = [38, 38, 38, 255];
const INK_DARK_PANEL: Rgba = [236, 236, 236, 255];
const ACCENT: Rgba = [230, 120, 20, 255];
const TEMPLATE: Rgba = [0, 0, 0, 255];

export function writeIcons(dir: string): string[] {
  const written: string[] = [];
  const put = (name: string, size: number, pixels: Uint8Array) => {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, encodePng(size, size, pixels));
    written.push(name);
  };
  for (const state of STATES) {
    for (const [scale, size] of [['', 16], ['@2x', 32]] as const) {
      put(`tray/tray-${state}-light${scale}.png`, size, drawMark(size, state, INK_LIGHT_PANEL, ACCENT));
      put(`tray/tray-${state}-dark${scale}.png`, size, drawMark(size, state, INK_DARK_PANEL, ACCENT));
      // Template images are black with alpha only; the accent becomes part of the shape.
      put(`tray/tray-${state}Template${scale}.png`, size, drawMark(size, state, TEMPLATE, TEMPLATE));
    }
  }
  // The application icon (electron-builder derives .icns and .ico from it).
  put('icon.png', 512, drawMark(512, 'expiring', [250, 250, 250, 255], ACCENT, [34, 40, 49, 255]));
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = writeIcons(dirname(fileURLToPath(import.meta.url)));
  console.log(`wrote ${files.length} icons`);
}
