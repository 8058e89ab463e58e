export declare const MOCK_KEYS: { admin: string; dashboard: string; default: string };
