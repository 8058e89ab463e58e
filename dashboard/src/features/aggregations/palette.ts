// Okabe–Ito, the colour-blind-safe qualitative palette (Okabe & Ito 2008),
// ordered so that neighbours differ for every kind of colour vision. Yellow
// is left out on light backgrounds and black on dark ones (too little
// contrast); past the seven colours, series repeat them dashed.
export const OKABE_ITO_LIGHT = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
export const OKABE_ITO_DARK = ['#56B4E9', '#E69F00', '#009E73', '#F0E442', '#CC79A7', '#D55E00', '#FFFFFF'];

export function seriesStyle(i: number, dark: boolean): { stroke: string; dash?: number[] } {
  const colors = dark ? OKABE_ITO_DARK : OKABE_ITO_LIGHT;
  const stroke = colors[i % colors.length]!;
  return i < colors.length ? { stroke } : { stroke, dash: [6, 4] };
}
