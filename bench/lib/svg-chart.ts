/**
 * A small-multiples bar chart as standalone SVG: one panel per metric, one bar per system, each
 * panel scaled to its own largest value and labelled with the measured figure. No library:
 * the bench draws what it measured.
 */

export interface Panel {
  title: string;
  /** "lower is better" or "higher is better", printed under the title. */
  better: "lower" | "higher";
  bars: { label: string; value: number | null; text: string }[];
}

const COLORS = ["#2563eb", "#60a5fa", "#9ca3af", "#f59e0b", "#10b981", "#a855f7"];
const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

export function barChartSvg(panels: Panel[], caption: string): string {
  const panelW = 420;
  const barH = 18;
  const gap = 6;
  const labelW = 120;
  const cols = 2;
  const panelH = (n: number): number => 44 + n * (barH + gap);
  const rowH = Math.max(...panels.map((p) => panelH(p.bars.length))) + 16;
  const width = cols * panelW + 20;
  const height = Math.ceil(panels.length / cols) * rowH + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  panels.forEach((p, i) => {
    const x0 = 10 + (i % cols) * panelW;
    const y0 = 10 + Math.floor(i / cols) * rowH;
    const max = Math.max(...p.bars.map((b) => b.value ?? 0), 1e-9);
    out.push(`<text x="${x0}" y="${y0 + 14}" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<text x="${x0}" y="${y0 + 30}" fill="#6b7280">${p.better} is better</text>`);
    p.bars.forEach((b, j) => {
      const y = y0 + 40 + j * (barH + gap);
      const w = b.value === null ? 0 : Math.max(1, ((panelW - labelW - 90) * b.value) / max);
      out.push(`<text x="${x0}" y="${y + 13}">${esc(b.label)}</text>`);
      out.push(`<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[j % COLORS.length]}"/>`);
      out.push(`<text x="${x0 + labelW + w + 4}" y="${y + 13}">${esc(b.text)}</text>`);
    });
  });
  out.push(`<text x="10" y="${height - 12}" fill="#6b7280">${esc(caption)}</text>`, "</svg>");
  return out.join("\n") + "\n";
}
