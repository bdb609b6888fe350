// The colour scales (webview/colour.ts), pure functions: a diverging scale is symmetric about zero with
// the neutral (background) colour at zero, the palette's ends at +-max|value|, clamps beyond, and stays
// defined for all-zero data; a sequential scale runs neutral -> positive; NaN gets the missing colour.
import { test } from "node:test";
import assert from "node:assert/strict";
import { divergingScale, luminance, maxAbs, MISSING, paletteFor, sequentialScale, textOn } from "../../webview/colour";

const bg = [250, 250, 250] as const;
const pal = paletteFor("light", bg);

test("diverging: zero is the background, the ends are +-max|value|, linear between, clamped beyond", () => {
  const s = divergingScale([0.5, -2, 1, Number.NaN, Infinity], pal);
  assert.deepEqual([s.min, s.max], [-2, 2], "domain is [-max|finite value|, +max|finite value|]");
  assert.deepEqual(s.colour(0), bg);
  assert.deepEqual(s.colour(2), pal.positive);
  assert.deepEqual(s.colour(-2), pal.negative);
  assert.deepEqual(s.colour(7), pal.positive, "clamped above");
  assert.deepEqual(s.colour(-7), pal.negative, "clamped below");
  const half = s.colour(1);
  pal.positive.forEach((p, i) => assert.ok(Math.abs(half[i] - (bg[i] + p) / 2) <= 0.5, `channel ${i}: ${half[i]} is not halfway from ${bg[i]} to ${p}`));
  assert.deepEqual(s.colour(Number.NaN), MISSING);
});

test("diverging on all-zero data stays defined (domain [-1, 1], every value the background)", () => {
  const s = divergingScale([0, 0, 0], pal);
  assert.deepEqual([s.min, s.max], [-1, 1]);
  assert.deepEqual(s.colour(0), bg);
  assert.equal(maxAbs([]), 0);
});

test("sequential: min is the background, max the positive end", () => {
  const s = sequentialScale(0, 1, pal);
  assert.deepEqual(s.colour(0), bg);
  assert.deepEqual(s.colour(1), pal.positive);
  assert.deepEqual(s.colour(-1), bg, "clamped below");
  assert.deepEqual(s.colour(Number.NaN), MISSING);
});

test("every theme's palette keeps its ends apart from its background and from each other", () => {
  for (const [kind, back] of [["light", [255, 255, 255]], ["dark", [31, 31, 31]], ["high-contrast", [0, 0, 0]], ["high-contrast-light", [255, 255, 255]]] as const) {
    const p = paletteFor(kind, back);
    assert.deepEqual(p.neutral, back);
    for (const end of [p.positive, p.negative]) {
      const contrast = (Math.max(luminance(end), luminance(back)) + 0.05) / (Math.min(luminance(end), luminance(back)) + 0.05);
      assert.ok(contrast >= 3, `${kind}: an end ${end} against the background ${back} has contrast ${contrast.toFixed(2)}, want >= 3`);
    }
    assert.notDeepEqual(p.positive, p.negative);
  }
  assert.deepEqual(textOn([255, 255, 255]), [0, 0, 0]);
  assert.deepEqual(textOn([0, 0, 0]), [255, 255, 255]);
});
