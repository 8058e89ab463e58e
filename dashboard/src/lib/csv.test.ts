import { describe, expect, it } from 'vitest';
import { csvField, fileStamp, toCsv } from './csv';

describe('CSV (RFC 4180)', () => {
  it('quotes fields with commas, quotes, CR or LF and doubles inner quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(' padded ')).toBe(' padded ');
    expect(csvField(undefined)).toBe('');
    expect(csvField(null)).toBe('');
    expect(csvField(0)).toBe('0');
  });

  it('ends every record, the last too, with CRLF and keeps values as given', () => {
    expect(toCsv(['client', 'sum'], [['a,b', '12345678901234.123456789'], ['ü "x"', '-0.5']])).toBe(
      'client,sum\r\n"a,b",12345678901234.123456789\r\n"ü ""x""",-0.5\r\n',
    );
    expect(toCsv(['only'], [])).toBe('only\r\n');
  });

  it('stamps file names in UTC', () => {
    expect(fileStamp(Date.UTC(2024, 0, 2, 3, 4, 5))).toBe('2024-01-02T0304Z');
  });
});
