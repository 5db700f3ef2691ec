// A list that renders only the rows near the viewport once it is long (the page itself
// scrolls). Row heights vary: each rendered row is measured and remembered, unmeasured rows
// count with an estimate; spacers above and below stand for the rows not rendered. Short
// lists render every row.

import { useEffect, useLayoutEffect, useReducer, useRef, useState, type ReactNode } from 'react';

export interface WindowListProps<T> {
  items: readonly T[];
  getKey(item: T): string;
  renderItem(item: T, index: number): ReactNode;
  /** Height assumed for a row not measured yet, in pixels. */
  estimate: number;
  /** Lists up to this length render every row. */
  threshold?: number;
  /** Pixels rendered beyond the viewport on each side. */
  overscan?: number;
  gap?: number;
  className?: string;
  label: string;
}

export function WindowList<T>(props: WindowListProps<T>) {
  const { items, getKey, estimate, gap = 10, threshold = 60, overscan = 800 } = props;
  const container = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [, remeasured] = useReducer((n: number) => n + 1, 0);
  const [viewport, setViewport] = useState({ top: 0, height: typeof window === 'undefined' ? 1000 : window.innerHeight });
  const windowed = items.length > threshold;

  // Where the viewport is, relative to the top of the list.
  useLayoutEffect(() => {
    if (!windowed) return;
    let frame = 0;
    const update = () => {
      frame = 0;
      const top = container.current ? -container.current.getBoundingClientRect().top : 0;
      setViewport((v) => (v.top === top && v.height === window.innerHeight ? v : { top, height: window.innerHeight }));
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(update);
    };
    update();
    window.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule);
    return () => {
      window.removeEventListener('scroll', schedule);
      window.removeEventListener('resize', schedule);
      if (frame) cancelAnimationFrame(frame);
    };
  }, [windowed]);

  // Measure the rendered rows; a changed height re-renders (spacers and range follow).
  const observer = useRef<ResizeObserver | null>(null);
  useEffect(() => {
    if (!windowed) return;
    observer.current = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) {
        const key = (e.target as HTMLElement).dataset.windowKey!;
        const h = (e.target as HTMLElement).offsetHeight;
        if (h && heights.current.get(key) !== h) {
          heights.current.set(key, h);
          changed = true;
        }
      }
      if (changed) remeasured();
    });
    container.current?.querySelectorAll<HTMLElement>('[data-window-key]').forEach((el) => observer.current!.observe(el));
    return () => observer.current?.disconnect();
  }, [windowed]);

  if (!windowed) {
    return <div role="feed" aria-label={props.label} aria-busy="false" className={props.className}>{items.map((item, i) => props.renderItem(item, i))}</div>;
  }

  // The first and last rows that touch the viewport plus the overscan.
  const from = viewport.top - overscan;
  const to = viewport.top + viewport.height + overscan;
  let offset = 0;
  let start = -1;
  let end = items.length;
  let before = 0;
  for (let i = 0; i < items.length; i++) {
    const h = (heights.current.get(getKey(items[i]!)) ?? estimate) + gap;
    if (start < 0 && offset + h > from) {
      start = i;
      before = offset;
    }
    if (offset > to) {
      end = i;
      break;
    }
    offset += h;
  }
  if (start < 0) {
    start = Math.max(0, items.length - 1);
    before = 0;
    for (let i = 0; i < start; i++) before += (heights.current.get(getKey(items[i]!)) ?? estimate) + gap;
  }
  let after = 0;
  for (let i = end; i < items.length; i++) after += (heights.current.get(getKey(items[i]!)) ?? estimate) + gap;

  return (
    <div ref={container} role="feed" aria-label={props.label} aria-busy="false" className={props.className}>
      <div aria-hidden="true" style={{ height: Math.max(0, before - gap) }} />
      {items.slice(start, end).map((item, i) => (
        <div
          key={getKey(item)} data-window-key={getKey(item)}
          ref={(el) => {
            if (el) observer.current?.observe(el);
          }}
        >
          {props.renderItem(item, start + i)}
        </div>
      ))}
      <div aria-hidden="true" style={{ height: Math.max(0, after - gap) }} />
    </div>
  );
}
