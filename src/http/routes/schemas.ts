export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } },
};

export const keyConfigSchema = {
  type: 'object',
  description: 'AES-256-GCM key (32 bytes), nonce (12) and AAD (5), standard base64 with padding',
  properties: { key: { type: 'string' }, nonce: { type: 'string' }, ad: { type: 'string' } },
};
