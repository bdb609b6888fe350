/**
 * Colour scales for the views, pure functions of numbers (no DOM): a diverging scale centred at zero
 * (signed effects: patching, attribution) and a sequential one (probabilities, magnitudes). The
 * palettes follow the theme: the neutral end is the output's background, so a zero cell reads as
 * "nothing here" in light, dark and high-contrast themes alike.
 */
/** VS Code's theme kinds (theme.ts reads which is active); defined here so this file needs no DOM. */
export type ThemeKind = "light" | "dark" | "high-contrast" | "high-contrast-light";

export type Rgb = readonly [number, number, number];

export interface Palette {
  negative: Rgb;
  neutral: Rgb;
  positive: Rgb;
}

/** One colour scale: its domain (for the legend) and the colour of a value. */
export interface Scale {
  kind: "diverging" | "sequential";
  min: number;
  max: number;
  colour(v: number): Rgb;
}

/** Colour of NaN cells: mid grey, distinct from every value's colour on both palettes' ends. */
export const MISSING: Rgb = [128, 128, 128];

/**
 * Blue for negative, red for positive (ColorBrewer RdBu's ends), brighter on dark backgrounds and
 * saturated in high contrast.
 */
export function paletteFor(kind: ThemeKind, background: Rgb): Palette {
  switch (kind) {
    case "high-contrast":
      return { negative: [0, 140, 255], neutral: background, positive: [255, 64, 64] };
    case "high-contrast-light":
      return { negative: [0, 60, 200], neutral: background, positive: [200, 0, 0] };
    case "dark":
      return { negative: [67, 147, 195], neutral: background, positive: [214, 96, 77] };
    case "light":
      return { negative: [33, 102, 172], neutral: background, positive: [178, 24, 43] };
  }
}

export function lerp(a: Rgb, b: Rgb, t: number): Rgb {
  return [Math.round(a[0] + (b[0] - a[0]) * t), Math.round(a[1] + (b[1] - a[1]) * t), Math.round(a[2] + (b[2] - a[2]) * t)];
}

/** The largest |value| that is finite, or 0 when there is none. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (Number.isFinite(a) && a > m) m = a;
  }
  return m;
}

/**
 * Symmetric around zero over [-m, m], m = the largest |value| (1 when all are zero, so the scale
 * stays defined); values beyond the domain clamp to its ends.
 */
export function divergingScale(values: ArrayLike<number>, palette: Palette): Scale {
  const m = maxAbs(values) || 1;
  return {
    kind: "diverging",
    min: -m,
    max: m,
    colour(v) {
      if (Number.isNaN(v)) return MISSING;
      const t = Math.max(-1, Math.min(1, v / m));
      return t >= 0 ? lerp(palette.neutral, palette.positive, t) : lerp(palette.neutral, palette.negative, -t);
    },
  };
}

/** From `min` (the neutral colour) to `max` (the positive colour), e.g. probabilities over [0, 1]. */
export function sequentialScale(min: number, max: number, palette: Palette): Scale {
  const span = max - min || 1;
  return {
    kind: "sequential",
    min,
    max,
    colour(v) {
      if (Number.isNaN(v)) return MISSING;
      return lerp(palette.neutral, palette.positive, Math.max(0, Math.min(1, (v - min) / span)));
    },
  };
}

export function css([r, g, b]: Rgb): string {
  return `rgb(${r}, ${g}, ${b})`;
}

/** Relative luminance (0 black .. 1 white), for picking readable text and dark-theme palettes. */
export function luminance([r, g, b]: Rgb): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** Black or white, whichever reads better on `bg`. */
export function textOn(bg: Rgb): Rgb {
  return luminance(bg) > 0.4 ? [0, 0, 0] : [255, 255, 255];
}
