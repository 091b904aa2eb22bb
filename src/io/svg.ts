/** SVG → PNG through sharp (loaded lazily: it is heavy). At the default 72 dpi one SVG px is one PNG pixel. */
export async function svgToPng(svg: string, density = 72): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  return sharp(Buffer.from(svg), { density }).png().toBuffer();
}
