// Where the waterfall's labels go: pure geometry (pixels within a row's
// timeline), so the rules can be tested apart from the DOM.

const PAD = 4;

const overlaps = (a, b) => a[0] < b[1] && b[0] < a[1];

// placeLabels places one row's labels inside a timeline W pixels wide.
//   bar:  [x0, x1], the span's bar (may reach outside [0, W] when zoomed)
//   durW: width of the duration label
//   gaps: [{x0, x1, w}], the row's gap boxes and their labels' widths
//   avoid: [[x0, x1]], other marks of the row (message arrows, link marker)
// It returns {dur: {x, inside} | null, gaps: [x | null]}: a gap's label sits
// inside its box when the box holds it, else it is left out (the box keeps
// its tooltip). The duration label goes inside the bar when the bar holds it
// clear of the gap boxes, else beside the bar (right, else left), and never
// outside the timeline nor over another label or box.
export function placeLabels(W, bar, durW, gaps = [], avoid = []) {
  const x0 = Math.max(0, bar[0]), x1 = Math.min(W, bar[1]);
  const gapX = gaps.map(g => {
    const a = Math.max(0, g.x0), b = Math.min(W, g.x1);
    return b - a >= g.w + 2 * 3 ? a + 3 : null;
  });
  const taken = avoid.slice();
  gaps.forEach((g, i) => {
    taken.push([Math.max(0, g.x0), Math.min(W, g.x1)]);
    if (gapX[i] != null) taken.push([gapX[i], gapX[i] + g.w]);
  });
  const free = iv => iv[0] >= 0 && iv[1] <= W && !taken.some(t => overlaps(t, iv));
  const tries = [];
  if (x1 - x0 >= durW + 2 * PAD) {
    tries.push({ x: x1 - PAD - durW, inside: true }, { x: x0 + PAD, inside: true });
  }
  tries.push({ x: bar[1] + PAD, inside: false }, { x: bar[0] - PAD - durW, inside: false });
  for (const t of tries) if (free([t.x, t.x + durW])) return { dur: t, gaps: gapX };
  // Nothing is free: the gap labels give way to the duration label.
  const noGapLabels = gaps.map(() => null);
  const taken2 = [...avoid, ...gaps.map(g => [Math.max(0, g.x0), Math.min(W, g.x1)])];
  for (const t of tries) {
    const iv = [t.x, t.x + durW];
    if (iv[0] >= 0 && iv[1] <= W && !taken2.some(b => overlaps(b, iv))) return { dur: t, gaps: noGapLabels };
  }
  // Still nothing: beside the bar over the other marks (an arrow), on the
  // panel's colour so it stays readable; never over a gap box.
  const boxes = gaps.map(g => [Math.max(0, g.x0), Math.min(W, g.x1)]);
  for (const t of tries) {
    const iv = [t.x, t.x + durW];
    if (!t.inside && iv[0] >= 0 && iv[1] <= W && !boxes.some(b => overlaps(b, iv))) return { dur: { ...t, crowded: true }, gaps: noGapLabels };
  }
  for (const t of tries) if (t.x >= 0 && t.x + durW <= W) return { dur: { ...t, crowded: true }, gaps: noGapLabels };
  return { dur: null, gaps: gapX };
}

// textWidth measures a label in the page's font (a canvas context, reused).
let ctx2d = null;
const widths = new Map();
export function textWidth(text, font) {
  const k = font + '\u0000' + text;
  let w = widths.get(k);
  if (w === undefined) {
    if (!ctx2d) ctx2d = document.createElement('canvas').getContext('2d');
    ctx2d.font = font;
    w = Math.ceil(ctx2d.measureText(text).width) + 2;
    if (widths.size > 5000) widths.clear();
    widths.set(k, w);
  }
  return w;
}
