// A small grouped bar chart as SVG text: no dependencies, readable in any browser.
export interface Group {
  label: string;
  values: Array<{ name: string; value: number }>;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

export function barChart(title: string, groups: Group[], reference = 1): string {
  const names = [...new Set(groups.flatMap((g) => g.values.map((v) => v.name)))];
  const max = Math.max(reference * 1.2, ...groups.flatMap((g) => g.values.map((v) => v.value)));
  const W = 120 + groups.length * (names.length * 18 + 30),
    H = 360,
    top = 40,
    bottom = 300,
    left = 60;
  const y = (v: number): number => bottom - ((bottom - top) * v) / max;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="20" font-size="14">${title}</text>`,
    `<line x1="${left}" y1="${y(reference)}" x2="${W - 10}" y2="${y(reference)}" stroke="#888" stroke-dasharray="4 3"/>`,
    `<text x="4" y="${y(reference) + 4}">kernel</text>`,
  ];
  for (let t = 0; t <= max; t += max > 4 ? 1 : 0.25)
    parts.push(`<text x="${left - 30}" y="${y(t) + 4}">${t.toFixed(2)}</text>`);
  groups.forEach((g, gi) => {
    const x0 = left + 20 + gi * (names.length * 18 + 30);
    g.values.forEach((v) => {
      const i = names.indexOf(v.name);
      parts.push(
        `<rect x="${x0 + i * 18}" y="${y(v.value)}" width="16" height="${bottom - y(v.value)}" fill="${COLORS[i % COLORS.length]}"><title>${v.name}: ${v.value.toFixed(2)}</title></rect>`,
      );
    });
    parts.push(`<text x="${x0}" y="${bottom + 16}" transform="rotate(20 ${x0} ${bottom + 16})">${g.label}</text>`);
  });
  for (const [i, n] of names.entries())
    parts.push(
      `<rect x="${left + i * 150}" y="${H - 18}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${left + 14 + i * 150}" y="${H - 9}">${n}</text>`,
    );
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
