// CSV export (RFC 4180): comma-separated fields, CRLF line ends, a field is
// quoted when it holds a comma, a double quote, CR or LF, and quotes inside
// are doubled. Values are written as given — amounts are the API's exact
// decimal text — so a spreadsheet or a script reads what Tally stored.

export type CsvValue = string | number | boolean | null | undefined;

export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A header line and one line per row, each ended by CRLF. */
export function toCsv(header: string[], rows: CsvValue[][]): string {
  return [header, ...rows].map((r) => `${r.map(csvField).join(',')}\r\n`).join('');
}

/** Saves text as a file through the browser's download (an object URL and an <a download>). */
export function downloadCsv(filename: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked after the click has been handled, so the download has started.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** A file-name-safe stamp of an instant: 2024-01-01T0000Z. */
export function fileStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace(':', '') + 'Z';
}
