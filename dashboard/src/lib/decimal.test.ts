import { describe, expect, it } from 'vitest';
import { compareDecimal, exactText, formatDecimal, formatExact, parseDecimal } from './decimal';

describe('parseDecimal', () => {
  it.each([
    ['1200', { negative: false, int: '1200', frac: '' }],
    ['-0.500', { negative: true, int: '0', frac: '5' }],
    ['+007.25', { negative: false, int: '7', frac: '25' }],
    ['-0', { negative: false, int: '0', frac: '' }],
    ['.5', { negative: false, int: '0', frac: '5' }],
    ['1e21', { negative: false, int: '1000000000000000000000', frac: '' }],
    ['1.5e-7', { negative: false, int: '0', frac: '00000015' }],
    ['12.345E2', { negative: false, int: '1234', frac: '5' }],
  ])('%s', (text, want) => expect(parseDecimal(text)).toEqual(want));

  it.each(['', '-', '.', 'abc', '1,5', '1.2.3', '0x10', 'NaN', 'Infinity', '1e', '--1'])('rejects %j', (text) =>
    expect(parseDecimal(text)).toBeUndefined(),
  );
});

describe('formatDecimal', () => {
  it('keeps every digit a double would lose, with locale grouping', () => {
    const text = '12345678901234.123456789';
    expect(String(Number(text))).toBe('12345678901234.123'); // why strings travel
    expect(formatDecimal(text, 'en-US')).toBe('12,345,678,901,234.123456789');
    expect(formatDecimal(text, 'de-DE')).toBe('12.345.678.901.234,123456789');
    expect(formatDecimal('1234567.5', 'en-IN')).toBe('12,34,567.5');
    expect(formatDecimal('1234567.5', 'fr-FR')).toBe('1\u202f234\u202f567,5');
  });

  it('writes sign, zero and trailing zeros canonically', () => {
    expect(formatDecimal('-1200.000000000', 'en-US')).toBe('-1,200');
    expect(formatDecimal('-0.000000001', 'en-US')).toBe('-0.000000001');
    expect(formatDecimal('0', 'en-US')).toBe('0');
    expect(formatDecimal('99999999999999999999999999999.999999999', 'en-US')).toBe('99,999,999,999,999,999,999,999,999,999.999999999');
  });

  it('uses the locale digits for the fraction too', () => {
    expect(formatDecimal('1234.5', 'ar-EG')).toBe(new Intl.NumberFormat('ar-EG').format(1234.5));
  });

  it('returns text that is not a decimal unchanged', () => {
    expect(formatDecimal('n/a', 'en-US')).toBe('n/a');
  });
});

describe('exactText', () => {
  it('prefers the exact string, falls back to the number, else undefined', () => {
    expect(exactText('0.1', 0.1)).toBe('0.1');
    expect(exactText(undefined, 1300.5)).toBe('1300.5');
    expect(exactText(undefined, 1e21)).toBe('1000000000000000000000');
    expect(exactText(undefined, 1e-7)).toBe('0.0000001');
    expect(exactText(undefined, undefined)).toBeUndefined();
    expect(exactText('', Number.NaN)).toBeUndefined();
    expect(formatExact(undefined, undefined, 'en-US')).toBe('–');
  });
});

describe('compareDecimal', () => {
  it('orders by value, not by text or through a double', () => {
    const values = ['10', '-2.5', '9.99', '0', '-10', '9.990000001', '100', '-0.001', '12345678901234.123456789', '12345678901234.123456788'];
    expect([...values].sort(compareDecimal)).toEqual([
      '-10',
      '-2.5',
      '-0.001',
      '0',
      '9.99',
      '9.990000001',
      '10',
      '100',
      '12345678901234.123456788',
      '12345678901234.123456789',
    ]);
    expect(compareDecimal('1.50', '1.5')).toBe(0);
  });
});
